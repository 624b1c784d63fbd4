"""The inbox page: its static HTML, CSS and JavaScript, and the live feed behind it."""
