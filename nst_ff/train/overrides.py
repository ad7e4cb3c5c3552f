"""train.py's command line checked before Hydra runs it: Hydra reports a mistyped key or experiment, or an
interpolation that cannot resolve, in several lines (or a traceback) with exit code 1, after making a run folder; here
it is one line naming the closest real setting or the reason, and nothing written."""

import difflib
import re

from hydra import compose, initialize_config_dir
from hydra.errors import HydraException, MissingConfigException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from nst_ff.io.config import conf_dir

CONFIG_NAME = "train"


def check_command(argv: list[str]) -> tuple[str | None, DictConfig | None]:
    """What Hydra would refuse in `argv`, in one line, or the settings it composes to. Hydra's own flags (--help,
    --cfg, --multirun, another config...) and its hydra.* settings are left to Hydra: (None, None)."""
    if any(arg.startswith("-") for arg in argv):
        return None, None
    overrides = [arg for arg in argv if not arg.lstrip("+~").startswith(("hydra.", "hydra/"))]
    try:
        settings = compose_train(overrides)
    except MissingConfigException as error:
        return missing_config(str(error)), None
    except HydraException as error:
        return unknown_key(str(error), overrides) or plain(str(error)), None
    problem = unresolvable(settings, overrides)
    return problem, None if problem else settings


def compose_train(overrides: list[str]) -> DictConfig:
    with initialize_config_dir(str(conf_dir()), version_base="1.3"):
        return compose(CONFIG_NAME, overrides=overrides)


def unresolvable(settings: DictConfig, overrides: list[str]) -> str | None:
    """The first interpolation that cannot resolve (an unset environment variable, a missing key, an unknown
    resolver): the setting as typed and why. ${hydra:...} resolves only inside Hydra's run: left to it."""
    try:
        OmegaConf.to_container(settings, resolve=True)
    except OmegaConfBaseException as error:
        reason = str(error).splitlines()[0]
        if "HydraConfig was not set" in reason:
            return None
        reason = re.sub(r"^\w+ raised while resolving interpolation: ", "", reason).strip('"')
        key = getattr(error, "full_key", None) or "a setting"
        typed = next((arg for arg in reversed(overrides) if arg.lstrip("+~").split("=", 1)[0] == key), key)  # last wins
        return f"{typed}: {reason}"
    return None


def unknown_key(message: str, overrides: list[str]) -> str | None:
    """"Could not override 'data.batchsize'": the setting as typed, and the nearest real key in its place."""
    found = re.match(r"Could not override '([^']+)'", message)
    if not found:
        return None
    key = found.group(1)
    typed = next((arg for arg in overrides if arg.lstrip("+~").split("=", 1)[0] == key), key)
    value = typed.split("=", 1)[1] if "=" in typed else "VALUE"
    parts, node, depth = key.split("."), compose_train([]), 0
    while depth < len(parts) - 1 and isinstance(node.get(parts[depth]), DictConfig):
        node, depth = node[parts[depth]], depth + 1
    keys = [str(k) for k in node.keys()]
    if parts[depth] in keys:  # a setting of its own (a map, null by default), given a key as if it were a section
        whole = ".".join(parts[:depth + 1])
        return (f"{typed}: no such setting; {whole} is given whole: '{whole}={{{'.'.join(parts[depth + 1:])}: "
                f"{value}}}' (python train.py --cfg job prints every setting)")
    close = difflib.get_close_matches(parts[depth], keys, n=1, cutoff=0.6)
    section = ".".join(parts[:depth]) or "the top level"
    hint = f"did you mean {'.'.join([*parts[:depth], close[0], *parts[depth + 1:]])}={value}?" if close else \
        f"the settings of {section}: {', '.join(keys)}"
    if parts[0] == "trainer" and not close:  # the trainer section lists only the arguments nst_ff sets
        hint += f"; +{key}={value} passes another lightning.Trainer argument"
    return f"{typed}: no such setting; {hint} (python train.py --cfg job prints every setting)"


def missing_config(message: str) -> str:
    """"Could not find 'experiment/ready13'" with Hydra's list of the options that exist."""
    found = re.search(r"Could not find '([^'/]+)/([^']+)'", message)
    if not found:
        return plain(message)
    group, name = found.groups()
    options = re.findall(r"^\t(\S+)$", message.split("Config search path")[0], flags=re.M)
    return f"{group}={name}: no such {group} (choose {', '.join(options) or 'one of conf/' + group})"


def plain(message: str) -> str:
    """Hydra's message without its pointer to the documentation, in one line."""
    lines = [line.strip() for line in message.splitlines() if line.strip() and not line.startswith("See https")]
    return "; ".join(lines)
