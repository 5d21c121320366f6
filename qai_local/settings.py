"""The settings of what runs only on one machine, read from the environment like every entry
point's (``qai.settings``): the stack's (``make dev``) and the local sandbox's limits."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, NonNegativeInt, PositiveFloat, PositiveInt

from qai.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parent.parent


class LocalSandboxSettings(Settings):
    # A sandbox's memory for all its processes, and disk for its directory, in MB.
    local_sandbox_memory_mb: int = Field(2048, ge=64)
    local_sandbox_disk_mb: PositiveInt = 2048
    # "none": commands run without bubblewrap, on purpose (anything else: isolated or refused).
    qai_sandbox_isolation: str = ""


class StackSettings(Settings):
    qai_data_dir: Path = ROOT / ".qai"
    qai_api_port: NonNegativeInt = 8787  # 0: any free port
    qai_sites_port: NonNegativeInt = 8788  # published sites, on an origin of their own; 0: any free port
    qai_queue_port: NonNegativeInt = 0  # fixed, so that `sam local` reaches the same queue; 0: any free
    qai_agent_workers: PositiveInt = 4
    qai_api_workers: PositiveInt = 4
    qai_sweep_seconds: PositiveFloat = 10


def sandbox_settings() -> LocalSandboxSettings:
    """Read now: the limits apply to the commands started from then on."""
    return load_settings(LocalSandboxSettings)
