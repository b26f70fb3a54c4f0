"""A one-line description of the machine a benchmark ran on; every bench prints it first."""

from __future__ import annotations

import os
import platform
import sys
from datetime import datetime
from importlib import metadata
from pathlib import Path

PACKAGES = ("fastapi", "uvicorn", "requests", "scikit-learn", "pandas", "numpy")


def cpu_model() -> str:
    """The CPU model from /proc/cpuinfo, or platform's processor name, or "unknown CPU"."""
    cpuinfo = Path("/proc/cpuinfo")
    try:
        for line in cpuinfo.read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def package_versions(names: tuple[str, ...] = PACKAGES) -> str:
    """``name version`` for each installed package, ``name -`` when missing."""
    out = []
    for name in names:
        try:
            out.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            out.append(f"{name} -")
    return ", ".join(out)


def describe_machine() -> str:
    """Date, cores, CPU, load average, Python, platform and key package versions, on one line."""
    now = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    try:
        load = "load avg " + "/".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        load = "load avg -"
    return (
        f"{now} | {os.cpu_count()} cores, {cpu_model()}, {load} | Python {sys.version.split()[0]} | "
        f"{platform.platform()} | {package_versions()}"
    )


if __name__ == "__main__":
    print(describe_machine())
