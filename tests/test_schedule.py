"""Where chunks end and which events fall where; what the progress lines and the closing
figure show. Pure functions and small objects, no training."""

import numpy as np
import pytest

from jaxgan.config import load_config
from jaxgan.data import BatchPipeline
from jaxgan.run.loop import real_images
from jaxgan.run.progress import Progress
from jaxgan.run.schedule import Schedule, total_steps

from tests.conftest import FASHION_CONFIG


def _schedule(**kw) -> Schedule:
    fields = dict(total=43, steps_per_epoch=20, chunk=8, log_every=5, sample_every=10, checkpoint_every=10)
    return Schedule(**{**fields, **kw})


def test_chunks_end_exactly_at_every_event_and_never_pass_the_total():
    s = _schedule()
    ends, step = [], 0
    while step < s.total:
        step = s.chunk_end(step)
        ends.append(step)
    assert ends == [5, 10, 15, 20, 25, 30, 35, 40, 43]  # log every 5 cuts every chunk of 8
    assert _schedule(log_every=100, sample_every=100, checkpoint_every=100).chunk_end(16) == 20  # epoch end
    assert _schedule(eval_every=3).chunk_end(0) == 3


def test_events_at_a_step():
    s = _schedule()
    assert s.events(10) == s.events(10)  # pure
    e = s.events(20)
    assert e.log and e.sample and e.checkpoint and e.epoch_end and not e.evaluate
    e = s.events(7)
    assert not (e.log or e.sample or e.checkpoint or e.epoch_end) and not e.any_output
    assert s.events(7, stopping=True).checkpoint  # Ctrl-C: save where the loop is
    last = s.events(43)
    assert last.log and last.sample and last.checkpoint and last.epoch_end  # the run's end
    assert _schedule(eval_every=10).events(30).evaluate


def test_epoch_count_follows_max_steps():
    config = load_config(FASHION_CONFIG, ["train.epochs=500", "train.max_steps=1200"])
    assert total_steps(config, 600) == 1200
    assert Schedule.of(config, 600, evaluating=False).epochs == 2  # not 500
    assert _schedule(total=50).epochs == 3  # 20 + 20 + a partial 10


def test_epoch_lines_number_this_runs_epochs(capsys):
    p = Progress("r", start=0, total=50, steps_per_epoch=20, enabled=False)
    means = {"d_loss": 1.0, "g_loss": 2.0, "d_real": 0.5, "d_fake": 0.25}
    for step in (20, 40, 50):
        p.advance(step)
        p.epoch_line(means)
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[1] for line in out] == ["[1/3]", "[2/3]", "[3/3]"]
    assert "step 50/50" in out[-1] and "D(x): 0.50" in out[-1]
    p.reset(20)  # a rollback
    assert p.step == 20


@pytest.mark.parametrize("batch_size", [1, 3, 64])
def test_the_closing_figure_shows_as_many_real_images_as_fakes(batch_size):
    images = np.arange(40 * 4, dtype=np.uint8).reshape(40, 2, 2, 1) % 251
    pipeline = BatchPipeline(images, batch_size=min(batch_size, 40), seed=0)
    real = real_images(pipeline, 16, "zero_one")
    assert real.shape == (16, 2, 2, 1)
    assert len({r.tobytes() for r in real}) == 16  # sixteen different images, not one blown up
