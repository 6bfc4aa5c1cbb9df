"""Fetch Debian packages without installing them: ``apt-get download`` then ``dpkg -x`` into a cache."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from unmt.errors import UnmtError


def package_known(name: str, cache: Path) -> bool:
    """Whether ``name`` is in the cache or in apt's package lists (no network): many FreeDict directions
    simply do not exist, which is not an error; a known package that fails to download is."""
    if (Path(cache) / name / ".version").exists():
        return True
    if shutil.which("apt-cache") is None:
        return False
    return subprocess.run(["apt-cache", "show", name], capture_output=True).returncode == 0


def fetch_debian_package(name: str, cache: Path) -> tuple[Path, str]:
    """Unpack package ``name`` under ``cache/<name>/`` (no root install); return (root, version)."""
    cache = Path(cache)
    root = cache / name
    stamp = root / ".version"
    if stamp.exists():
        return root, stamp.read_text().strip()
    for tool in ("apt-get", "dpkg"):
        if shutil.which(tool) is None:
            raise UnmtError(
                f"{tool}: not found, so Debian package {name} cannot be fetched -- use the committed corpus "
                f"(corpora/*.tar.xz, the default) or run this builder on a Debian/Ubuntu machine")
    dl = cache / ".debs"
    dl.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["apt-get", "download", name], cwd=dl, capture_output=True, text=True)
    if r.returncode != 0:
        raise UnmtError(f"apt-get download {name}: failed ({r.stderr.strip().splitlines()[-1:]}) -- "
                        f"run `apt-get update` first, or check the package name with `apt-cache policy {name}`")
    deb = sorted(dl.glob(f"{name}_*.deb"))[-1]
    version = subprocess.run(["dpkg-deb", "-f", str(deb), "Version"], capture_output=True, text=True,
                             check=True).stdout.strip()
    tmp = cache / f".{name}.unpacking"
    shutil.rmtree(tmp, ignore_errors=True)
    subprocess.run(["dpkg", "-x", str(deb), str(tmp)], check=True)
    (tmp / ".version").write_text(version + "\n")
    shutil.rmtree(root, ignore_errors=True)
    tmp.rename(root)
    return root, version
