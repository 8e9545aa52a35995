"""Sans-IO wire protocols: bytes in, commands out; events out, bytes in. No trio."""
