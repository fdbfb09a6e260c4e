"""Opening images safely and sizing them for vision models."""

from __future__ import annotations

import io
import warnings

from PIL import Image

from toolpark.contract.errors import ToolError

__all__ = ["encode", "fit", "open_image"]


def open_image(data: bytes, max_pixels: int) -> Image.Image:
    """Decode an image, refusing one with more than `max_pixels` (decompression bombs) or a broken one."""
    Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.width * image.height > max_pixels:
                raise ToolError(
                    f"The image is {image.width}x{image.height} pixels, over this server's limit of {max_pixels} pixels"
                )
            image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ToolError(f"The image has more pixels than this server's limit of {max_pixels} pixels") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise ToolError(f"The data is not an image this server can read ({exc}).") from exc
    return image


def fit(image: Image.Image, max_pixels: int) -> Image.Image:
    """`image` scaled down (never up) to at most `max_pixels`, keeping its aspect ratio."""
    area = image.width * image.height
    if area <= max_pixels:
        return image
    scale = (max_pixels / area) ** 0.5
    return image.resize((max(1, int(image.width * scale)), max(1, int(image.height * scale))), Image.Resampling.LANCZOS)


def encode(image: Image.Image, fmt: str) -> bytes:
    """PNG or JPEG bytes of `image`."""
    out = io.BytesIO()
    if fmt == "jpeg":
        image.convert("RGB").save(out, "JPEG", quality=85)
    else:
        image.save(out, "PNG", optimize=False)
    return out.getvalue()
