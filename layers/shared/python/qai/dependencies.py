"""What an entry point hands down: built once per execution environment (at cold start) from the
environment, or by a test or the local stack for itself. Nothing else in the code keeps state."""

from __future__ import annotations

from dataclasses import dataclass

from qai.db import Database
from qai.downloads import DownloadStore
from qai.images import UploadStore
from qai.queue import AgentQueue
from qai.sealing import TokenSealer, token_sealer
from qai.settings import Settings, load_settings, resolved_database_url
from qai.sites_store import SiteStore, site_store


@dataclass(frozen=True)
class Dependencies:
    settings: Settings
    database: Database
    queue: AgentQueue
    downloads: DownloadStore
    sealer: TokenSealer
    sites: SiteStore
    uploads: UploadStore

    @classmethod
    def build(cls, settings: Settings) -> Dependencies:
        """The database, queue and stores that ``settings`` name (secrets fetched now)."""
        return cls(
            settings=settings,
            database=Database(
                resolved_database_url(settings), prepared_statements=settings.database_prepared_statements
            ),
            queue=AgentQueue(settings.agent_queue_url),
            downloads=DownloadStore(settings),
            sealer=token_sealer(settings),
            sites=site_store(settings),
            uploads=UploadStore(settings),
        )

    @classmethod
    def from_environment(cls) -> Dependencies:
        return cls.build(load_settings(Settings))
