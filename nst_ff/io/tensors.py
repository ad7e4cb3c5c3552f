"""torch.load for a file that may come from anywhere (a checkpoint, VGG weights): tensors and plain containers only,
so that it cannot run code, and a reason in one line when it cannot be read."""

import os
import pickle

import torch

from nst_ff.errors import NstError


class UnreadableFile(NstError):
    """The file is not one torch can load safely; `refused` when it holds pickled code rather than being damaged."""

    def __init__(self, reason: str, refused: bool = False):
        super().__init__(reason)
        self.refused = refused


def load_tensors(path: str | os.PathLike, map_location="cpu"):
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        # weights_only refuses any pickled object outside tensors and plain containers. torch's message is a
        # paragraph that suggests weights_only=False; keep only its specific line ("... GLOBAL posix.system ...").
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        detail = next((line for line in reversed(lines) if not line.startswith("Check the documentation")), "")
        if "GLOBAL" not in detail:  # garbage bytes that merely look like a pickle
            raise UnreadableFile(f"corrupt or not a PyTorch file ({detail})") from None
        raise UnreadableFile(f"it holds pickled Python objects that could run code ({detail})", refused=True) from None
    except Exception as error:
        first_line = (str(error).strip().splitlines() or [""])[0] or "empty or cut short"
        raise UnreadableFile(f"{type(error).__name__}: {first_line}") from None
