"""Developer tools for the desktop app: offscreen screenshots and the UI-stall check."""
