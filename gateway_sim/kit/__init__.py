"""The conformance kit: record real traffic through a proxy, probe the real gateway, and
compare any recording with the simulator (`gateway-sim record | probe | conform`)."""
