"""The wire: reading gateway requests (query strings, urlencoded and multipart bodies) and writing
its plain-text answers. Nothing here decides policy; that is `gateway_sim.gateway`'s job.
"""
