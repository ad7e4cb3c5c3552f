"""train.py's command line before Hydra runs it: a mistyped key, section, experiment or value, or an interpolation
that cannot resolve, is one line naming what exists or why; settings Hydra accepts, its own flags and hydra.*
settings pass through."""

import pytest

from nst_ff.train.overrides import check_command


@pytest.mark.parametrize("argv,message", [
    (["data.batchsize=4"], "data.batchsize=4: no such setting; did you mean data.batch_size=4?"),
    (["dat.batch_size=4"], "dat.batch_size=4: no such setting; did you mean data.batch_size=4?"),
    (["experiment=demo", "trainer.max_step=3"], "trainer.max_step=3: no such setting; did you mean "
                                                "trainer.max_steps=3?"),
    (["loss.style_layers.relu4_2=1"], "did you mean loss.style_layers.relu4_3=1?"),
    (["loss.style_scales.candy=2"], "loss.style_scales.candy=2: no such setting; loss.style_scales is given whole: "
                                    "'loss.style_scales={candy: 2}'"),
    (["optim.learning_rate=1e-3"], "optim.learning_rate=1e-3: no such setting; the settings of optim: lr, cin_lr, "),
    (["trainer.foo=1"], "+trainer.foo=1 passes another lightning.Trainer argument"),
    (["experiment=ready13"], "experiment=ready13: no such experiment (choose demo, ready12)"),
    (["data.batch_size"], "Error parsing override 'data.batch_size'; missing EQUAL"),
    (["data.batch_size=4,8"], "Ambiguous value for argument 'data.batch_size=4,8'; 1. To use it as a list"),
    (["logging.dir=${oc.env:NST_FF_UNSET}"], "logging.dir=${oc.env:NST_FF_UNSET}: Environment variable "
                                             "'NST_FF_UNSET' not found"),
    (["run_name=${nope}"], "run_name=${nope}: Interpolation key 'nope' not found"),
    (["data.content_dir=${foo:bar}"], "data.content_dir=${foo:bar}: Unsupported interpolation type foo"),
])
def test_a_mistyped_setting_is_one_line_naming_what_exists(argv, message):
    problem, settings = check_command(argv)
    assert message in problem and "\n" not in problem and settings is None, problem


@pytest.mark.parametrize("argv", [[], ["experiment=ready12", "data.batch_size=4", "+trainer.fast_dev_run=true"],
                                  ["hydra.run.dir=/tmp/x", "+hydra.job.name=rank1"], ["--cfg", "job", "nope=1"],
                                  ["-m", "data.batch_size=4,8"], ["data.batch_size=abc"],
                                  ["data.content_dir=${hydra:runtime.cwd}/photos"], ["run_name=${now:%H}"]])
def test_what_hydra_accepts_passes_through(argv):
    assert check_command(argv)[0] is None  # a bad value (abc) is check_settings' to refuse, with its range
