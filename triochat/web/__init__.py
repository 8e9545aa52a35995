"""The web chat page (``index.html``: HTML, CSS and JavaScript in one file), package data only."""
