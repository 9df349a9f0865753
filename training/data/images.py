"""Reading one image of a class-folder set, failing loudly: the loader both folder paths use (decoded at job start,
or streamed by ImageFolder), kept apart so neither imports the other."""

from __future__ import annotations


class UnreadableImage(RuntimeError):
    """An image of a class-folder set that PIL cannot decode: the message names the file."""


def read_image(path: str):
    """The image at `path` as RGB, fully decoded; UnreadableImage naming the file if it cannot be.

    One unreadable image fails the run instead of being skipped: the run id stands for the folder's images,
    and a run that silently trained on fewer of them would not be the run its id says. (ImageFolder's
    loader for streamed sets too: a module-level function, so DataLoader workers can pickle it.)"""
    from PIL import Image

    try:
        with Image.open(path) as img:
            return img.convert("RGB")  # convert() decodes the whole file: a truncated one fails here
    except (OSError, ValueError, SyntaxError) as exc:  # PIL's errors for truncated/corrupt/unknown files
        raise UnreadableImage(f"cannot read image {path} ({exc}); replace or remove the file (one unreadable "
                              "image fails the run, it is not skipped)") from None
