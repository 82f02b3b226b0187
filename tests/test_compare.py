"""The comparison function (each method at its own best learning rate, runs that did not train
set aside) and the run-health status of the one loop."""

import numpy as np
import pytest

from normlab import compare, train


def test_each_method_at_its_own_best_rate():
    lrs, seeds = [0.1, 0.3, 1.0], [0, 1, 2]
    # A is best at 0.1, B at 1.0; at the shared rate 0.1, B looks worse than A, at best rates it wins
    a = np.array([[0.20, 0.21, 0.19], [0.30, 0.31, 0.29], [0.50, 0.52, 0.48]])
    b = np.array([[0.40, 0.41, 0.39], [0.20, 0.21, 0.19], [0.10, 0.12, 0.11]])
    c = compare.compare(np.stack([a, b]), methods=["A", "B"], lrs=lrs, seeds=seeds,
                        criterion="final loss")
    assert c.best_lr == {"A": 0.1, "B": 1.0}
    np.testing.assert_allclose(c.at_best["B"], [0.10, 0.12, 0.11])
    assert c.ranking() == ["B", "A"] and c.wins("B", "A") == 3
    np.testing.assert_allclose(c.ratio("B", "A"), [0.5, 0.12 / 0.21, 0.11 / 0.19])
    assert "0.11 (0.1-0.12 over 3 seeds) at lr 1" == c.summary("B")
    assert "*" in c.table() and c.excluded_text() == "no run excluded"


def test_runs_that_did_not_train_never_count():
    lrs, seeds = [0.1, 1.0], [0, 1]
    metric = np.array([[[0.3, 0.3], [0.01, np.nan]]])       # the best-looking rate has a NaN seed
    c = compare.compare(metric, methods=["A"], lrs=lrs, seeds=seeds, criterion="loss")
    assert c.best_lr["A"] == 0.1 and "1 of 4 runs excluded (1 diverged)" == c.excluded_text()
    died = np.array([[["ok", "ok"], ["ok", train.Status("died", None, "died: 95% ...")]]], object)
    c = compare.compare(np.full((1, 2, 2), 0.2) - np.array([0, 0.1])[None, :, None], methods=["A"],
                        lrs=lrs, seeds=seeds, criterion="loss", status=died)
    assert c.best_lr["A"] == 0.1 and c.excluded() == [("A", 1.0, 1, "died: 95% ...")]
    none = compare.compare(np.zeros((1, 2, 2)), methods=["A"], lrs=lrs, seeds=seeds, criterion="x",
                           status=np.full((1, 2, 2), "stalled", object))
    assert none.best_lr["A"] is None and "no learning rate" in none.summary("A")
    assert none.ranking() == []


def test_higher_is_better_and_shapes():
    c = compare.compare([[[0.9, 0.8], [0.95, 0.97]]], methods=["A"], lrs=[0.1, 1], seeds=[0, 1],
                        criterion="accuracy", higher_is_better=True)
    assert c.best_lr["A"] == 1.0
    with pytest.raises(ValueError, match="expected \\(methods, lrs, seeds\\)"):
        compare.compare(np.zeros((2, 2)), methods=["A"], lrs=[1, 2], seeds=[0], criterion="x")
    e = compare.evaluate(lambda m, lr, s: (lr * (1 if m == "A" else -1), "ok"), methods=["A", "B"],
                         lrs=[1.0, 2.0], seeds=[0], criterion="x")
    assert e.best_lr == {"A": 1.0, "B": 2.0}
    assert compare.final(np.arange(10.0), 4) == pytest.approx(7.5)


def test_status_tells_diverged_died_stalled_and_ok():
    falling = np.linspace(2.3, 0.2, 100)
    assert train.status(falling).kind == "ok"
    blow = falling.copy(); blow[40:] = np.nan
    s = train.status(blow)
    assert s.kind == "diverged" and s.step == 40 and "diverged at step 40" == s.why
    assert train.status(falling, dead=[0.1, 0.95]).kind == "died"
    assert train.status(falling, dead=[0.95, 0.5]).kind == "ok"       # the last evaluation counts
    assert train.status(np.full(100, 2.3)).kind == "stalled"
    assert train.status(falling, test_acc=[0.1, 0.12], chance=0.1).kind == "stalled"
    assert train.status(falling, test_acc=[0.1, 0.19], chance=0.1).kind == "stalled"   # 2x chance
    # an early blow-up does not make a run that ends near its start look trained
    spike = np.full(100, 2.3); spike[1:10] = 1e3; spike[-10:] = 2.2
    assert train.status(spike).kind == "stalled"
    assert train.status(falling, test_acc=[0.1, 0.9], chance=0.1).ok


def test_fit_classifier_records_dead_units():
    """A network whose hidden biases are very negative has every ReLU unit off: dead = 1."""
    import jax
    import jax.numpy as jnp

    from normlab import data, nets

    d = data.digits()
    p = nets.init_mlp(0, [64, 16, 10])
    _, h = train.fit_classifier(p, d, jax.random.PRNGKey(0), lr=0.1, steps=4, eval_every=2)
    assert h["dead"].shape == (2,) and float(h["dead"][-1]) < 0.9
    p[0]["b"] = jnp.full_like(p[0]["b"], -1e3)
    _, h = train.fit_classifier(p, d, jax.random.PRNGKey(0), lr=0.0, steps=4, eval_every=2)
    assert float(h["dead"][-1]) == 1.0
    assert train.status(h["loss"], dead=h["dead"]).kind == "died"
