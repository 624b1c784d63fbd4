"""The decisions, no I/O: a submission becomes an outcome (gateway), with accounts, prices,
numbers, content, rules, the scenario, the text policy and the table of limits.
"""
