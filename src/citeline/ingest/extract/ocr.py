"""OCR of image-only pages with the Tesseract binary (Debian package ``tesseract-ocr``)."""

from __future__ import annotations

import io
import shutil
import subprocess
from functools import cache

from citeline.errors import ExtractionError, MissingDependencyError


@cache
def tesseract_path() -> str | None:
    return shutil.which("tesseract")


def ocr_png(png: bytes, *, timeout_s: float = 120.0, lang: str = "eng") -> str:
    exe = tesseract_path()
    if exe is None:
        raise MissingDependencyError("OCR needs Tesseract: apt-get install tesseract-ocr tesseract-ocr-eng")
    try:
        proc = subprocess.run(
            [exe, "stdin", "stdout", "-l", lang, "--psm", "3"],
            input=png, capture_output=True, timeout=timeout_s, check=False,
        )
    except subprocess.TimeoutExpired:
        raise ExtractionError(f"OCR timed out after {timeout_s:.0f} s") from None
    if proc.returncode != 0:
        msg = proc.stderr.decode(errors="replace").strip().splitlines()
        raise ExtractionError(f"OCR failed: {msg[-1] if msg else 'tesseract exit ' + str(proc.returncode)}")
    return proc.stdout.decode("utf-8", errors="replace")


def pil_to_png(image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()
