"""The inbox: a live web page served by the simulator (`/` and `/_sim/ui`) and the event feed
(`/_sim/events`) that keeps it up to date."""
