"""The core: hub, rooms, members, events and errors. No sockets, no protocol text."""
