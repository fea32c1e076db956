"""The start-up sweep of the image files no row names any more.

A removed message's image file is deleted after the removal commits
(:func:`parley.changes.free_image`); a crash in between, or a message whose storing
failed after its image was written, leaves a file that no ``images`` row names. Such
files are deleted when the server starts, once older than :data:`GRACE` (so that an
image another process has just written for a message it is storing is spared).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Container
from pathlib import Path

from .images import FILE_NAME

log = logging.getLogger(__name__)

#: files younger than this, in seconds, are left alone
GRACE = 3600.0


def sweep(root: Path, known: Container[tuple[int, str]], *, grace: float = GRACE,
          now: float | None = None) -> list[Path]:
    """Delete the image files under ``root`` (``<chat id>/<name>``) that ``known`` does
    not hold and that are older than ``grace`` seconds; the files deleted."""
    moment = time.time() if now is None else now
    gone: list[Path] = []
    if not root.is_dir():
        return gone
    for folder in root.iterdir():
        if not folder.is_dir() or not folder.name.isdigit():
            continue
        chat_id = int(folder.name)
        for path in folder.iterdir():
            if not FILE_NAME.fullmatch(path.name) or (chat_id, path.name) in known:
                continue
            try:
                if moment - path.stat().st_mtime < grace:
                    continue
                path.unlink()
            except FileNotFoundError:
                continue
            gone.append(path)
    if gone:
        log.info("deleted %d image files no message shows", len(gone))
    return gone
