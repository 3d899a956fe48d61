"""FastAPI service and server-rendered pages of Passerelle (thin routes over matching.services)."""
