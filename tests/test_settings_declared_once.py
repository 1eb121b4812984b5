"""Settings are declared once and every face offers what the core accepts (defect 1 of #12);
label-set files are written by `library/`, the only writer of the library folder (defect 11)."""

from __future__ import annotations

import ast
from pathlib import Path

from soundfinder import config
from soundfinder.cli.common import EXIT_ERROR
from soundfinder.cli.main import build_parser


def test_precision_fast_is_accepted_on_the_command_line():
    args = build_parser().parse_args(["--precision", "fast", "status"])
    assert args.precision == "fast" and args.command == "status"


def test_every_declared_choice_is_a_flag_choice():
    parser = build_parser()
    for name, opt in config.OPTIONS.items():
        if opt.flag and opt.choices:
            for choice in opt.choices:
                assert getattr(parser.parse_args([f"--{name}", choice, "status"]), name) == choice


def test_the_model_loader_accepts_every_precision_choice():
    """`fast` was advertised and accepted by pick_dtype but refused by argparse; now the
    declaration is the one list, and the loader knows each of its values."""
    from soundfinder.model.clap import ModelLoadError, pick_dtype

    for choice in config.OPTIONS["precision"].choices:
        try:
            pick_dtype("cpu", choice)
        except ModelLoadError as e:  # float16 on a CPU: known, refused with a reason
            assert "not supported on the CPU" in str(e), (choice, e)


def test_precision_fast_runs_a_command(cli, sample_folder):
    code, _, err = cli("--precision", "fast", "index", str(sample_folder / "Drums"))
    assert code == 0, err
    code, out, err = cli("--precision", "fast", "search", "kick", "-k", "1", "--json")
    assert code == 0, err


def test_an_environment_value_outside_the_choices_is_one_clear_error(cli, monkeypatch):
    monkeypatch.setenv("SOUNDFINDER_PRECISION", "turbo")
    code, out, err = cli("search", "kick")
    assert code == EXIT_ERROR and out == ""
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("soundfinder: error: SOUNDFINDER_PRECISION='turbo' is not one of auto, fast,")


def test_settings_dialog_offers_every_precision_choice(qtbot):
    from soundfinder.gui.settings_dialog import SettingsDialog

    dialog = SettingsDialog(user={"precision": "fast"})
    qtbot.addWidget(dialog)
    combo = dialog.editors["precision"]
    offered = [combo.itemText(i) for i in range(combo.count())]
    assert offered == list(config.OPTIONS["precision"].choices) and "fast" in offered
    assert combo.currentText() == "fast"


def test_saving_a_label_set_goes_through_the_library(tmp_path, monkeypatch):
    import soundfinder.library.labelsets as labelsets
    from soundfinder.query.vocabularies import Label, LabelSet, load_label_sets, save_user_label_set

    calls = []
    real = labelsets.write_label_set_file

    def spy(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(labelsets, "write_label_set_file", spy)
    ls = LabelSet(name="My Drums", mode="single", labels=(Label("kick", ("a kick drum",)),
                                                          Label("snare", ("a snare drum",))))
    path = save_user_label_set(tmp_path, ls)
    assert len(calls) == 1 and path.parent == tmp_path / "labelsets" and path.exists()
    assert "My Drums" in [s.name for s in load_label_sets([tmp_path / "labelsets"])]


def test_vocabularies_never_write_files_themselves():
    """query/vocabularies.py reads label sets; it neither opens a file for writing nor calls a
    writer of its own (it used to write the library folder itself)."""
    import soundfinder.query as query

    writers = {"write_text", "write_bytes", "atomic_write_bytes", "atomic_write_text", "mkdir"}
    for path in [Path(query.__path__[0]) / "vocabularies.py"]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                fn = node.func
                name = fn.attr if isinstance(fn, ast.Attribute) else getattr(fn, "id", "")
                assert name not in writers, f"{path.name}:{node.lineno} calls {name}"
                if name == "open" and len(node.args) > 1:
                    mode = node.args[1]
                    assert not (isinstance(mode, ast.Constant) and set(str(mode.value)) & set("wax")), \
                        f"{path.name}:{node.lineno} opens a file for writing"


