"""relay: a CI/CD webhook relay and deploy orchestrator for the NetEase Cloud cluster API."""

__version__ = "0.1.0"
