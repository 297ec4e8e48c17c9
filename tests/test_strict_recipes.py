"""A key given twice in a recipe or in a run's config.yaml is refused in one line naming the key
and both lines (plain YAML would keep the last one without a word)."""

from __future__ import annotations


import pytest

from jaxgan import sample, train
from jaxgan.config import CONFIG_DIR, load_config, load_yaml, recipe_names
from jaxgan.errors import JaxganError
from jaxgan.run.resume import check_resumable

FASHION = CONFIG_DIR / "gan_fashion_mnist.yaml"


def _with_line(text: str, after: str, line: str) -> str:
    """`text` with `line` inserted after the first line that starts with `after`."""
    lines = text.splitlines(keepends=True)
    at = next(i for i, l in enumerate(lines) if l.startswith(after)) + 1
    return "".join(lines[:at] + [line] + lines[at:])


def _line_of(text: str, start: str) -> int:
    return next(i for i, l in enumerate(text.splitlines(), 1) if l.startswith(start))


def test_top_level_key_given_twice(tmp_path):
    text = FASHION.read_text() + "name: other\n"
    recipe = tmp_path / "twice.yaml"
    recipe.write_text(text)
    last = len(text.splitlines())
    with pytest.raises(JaxganError) as e:
        load_config(recipe)
    assert str(e.value) == (f"{recipe}:{last}:1: malformed YAML: key 'name' is given twice, "
                            f"on lines {_line_of(text, 'name:')} and {last}; keep one")


def test_nested_key_given_twice(tmp_path):
    original = FASHION.read_text()
    first = next(l for l in original.splitlines() if l.startswith("  batch_size:"))
    text = _with_line(original, "  batch_size:", "  batch_size: 7\n")
    recipe = tmp_path / "nested.yaml"
    recipe.write_text(text)
    n = _line_of(text, first)
    with pytest.raises(JaxganError, match=rf":{n + 1}:3: malformed YAML: key 'batch_size' is given twice, "
                                          rf"on lines {n} and {n + 1}; keep one$"):
        load_config(recipe)


def test_same_key_in_different_mappings_and_merges_are_fine():
    assert load_yaml("a: {x: 1}\nb: {x: 2}\n") == {"a": {"x": 1}, "b": {"x": 2}}
    assert load_yaml("a: &d {x: 1, y: 2}\nb:\n  <<: *d\n  x: 3\n") == {"a": {"x": 1, "y": 2}, "b": {"x": 3, "y": 2}}
    for name in recipe_names():  # every shipped recipe has each key once
        load_config(CONFIG_DIR / f"{name}.yaml")


def test_train_cli_refuses_a_recipe_with_a_key_twice(tmp_path, capsys):
    recipe = tmp_path / "twice.yaml"
    recipe.write_text(FASHION.read_text() + "seed: 3\n")
    empty = tmp_path / "no_data"
    empty.mkdir()  # were the recipe taken, this would fail at once too, on the data
    code = train.main(["--config", str(recipe), "--workdir", str(tmp_path / "run"), "--set", f"data.root={empty}",
                       "--set", "train.max_steps=1"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.splitlines()) == 1 and "Traceback" not in err
    assert err.startswith(f"error: {recipe}:") and "key 'seed' is given twice, on lines" in err
    assert not (tmp_path / "run").exists()


def test_run_config_with_a_key_twice_is_refused_on_resume_and_sample(tmp_path, capsys):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    text = _with_line(FASHION.read_text(), "seed:", "seed: 5\n")
    (run / "config.yaml").write_text(text)
    with pytest.raises(JaxganError, match=r"config.yaml: unreadable \(key 'seed' is given twice, on lines \d+ and "
                                          r"\d+; keep one\); this run folder cannot be resumed"):
        check_resumable(run / "config.yaml", load_config(FASHION))
    assert sample.main(["--checkpoint", str(run)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {run / 'config.yaml'}:") and "key 'seed' is given twice" in err
    assert len(err.splitlines()) == 1
