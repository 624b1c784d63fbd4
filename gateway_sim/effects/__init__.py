"""What a decision sets going after the answer: delivery reports, inbound messages, callbacks and
the scheduler that times them.
"""
