"""PyLops parity of the wavelets, tapers and synthetic seismic events (float64 to 1e-12)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from torchlops.utils import seismicevents as se
from torchlops.utils import tapers as tp
from torchlops.utils import wavelets as wv

pl = pytest.importorskip("pylops")
pw, pt, pse = pl.utils.wavelets, pl.utils.tapers, pl.utils.seismicevents

RTOL = 1e-12


def _close(actual: torch.Tensor, expected: np.ndarray, rtol: float = RTOL) -> None:
    assert isinstance(actual, torch.Tensor)
    a = actual.detach().cpu().numpy()
    assert a.shape == np.shape(expected), (a.shape, np.shape(expected))
    err = np.linalg.norm((a - expected).ravel())
    assert err <= rtol * max(np.linalg.norm(np.ravel(expected)), 1e-300), err


# ---------------------------------------------------------------------------- wavelets
WAVELETS = [
    ("ricker", {"f0": 20}),
    ("ricker", {}),
    ("gaussian", {"std": 3.0}),
    ("klauder", {"f": (5.0, 40.0)}),
    ("klauder", {}),
    ("ormsby", {"f": (3.0, 8.0, 30.0, 45.0)}),
    ("ormsby", {}),
]


@pytest.mark.parametrize(("name", "kw"), WAVELETS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(WAVELETS)])
@pytest.mark.parametrize("nt", [41, 17])
def test_wavelet_parity(name: str, kw: dict, nt: int) -> None:
    t = np.arange(nt) * 0.004
    w, ts, wc = getattr(wv, name)(t, **kw)
    pwv, pts, pwc = getattr(pw, name)(t, **kw)
    assert w.dtype == torch.float64 and ts.dtype == torch.float64
    _close(w, pwv)
    _close(ts, pts)
    assert isinstance(wc, int) and wc == pwc


@pytest.mark.parametrize("name", ["ricker", "klauder", "ormsby"])
def test_wavelet_taper_and_tensor_input(name: str) -> None:
    t = np.arange(31) * 0.004
    w, _, _ = getattr(wv, name)(t, taper=np.hanning)
    _close(w, getattr(pw, name)(t, taper=np.hanning)[0])
    # a torch taper function works too; a float32 tensor axis keeps its dtype
    w2, _, _ = getattr(wv, name)(torch.from_numpy(t), taper=lambda n: torch.hann_window(n, periodic=False, dtype=torch.float64))
    _close(w2, getattr(pw, name)(t, taper=np.hanning)[0], 1e-10)
    w32, t32, wc = getattr(wv, name)(torch.from_numpy(t).float())
    assert w32.dtype == torch.float32 and t32.dtype == torch.float32
    _close(w32.double(), getattr(pw, name)(t)[0], 1e-5)


def test_wavelet_even_axis_warns_and_crops() -> None:
    t = np.arange(20) * 0.004
    with pytest.warns(UserWarning, match="One sample removed from time axis"):
        w, ts, wc = wv.ricker(t)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pwv, pts, pwc = pw.ricker(t)
    _close(w, pwv)
    assert ts.numel() == 37 and wc == pwc == 18


def test_wavelet_bad_axis() -> None:
    with pytest.raises(ValueError, match=r"t must be a non-empty 1-D time axis, got shape \(2, 3\)"):
        wv.ricker(np.zeros((2, 3)))


# ---------------------------------------------------------------------------- tapers
SIZES = [(10, 3), (11, 5), (7, 1), (7, 0), (8, 4), (21, 6), (1, 0), (2, 1)]
TYPES = ["hanning", "cosine", "cosinesquare", "cosinesqrt", None]


@pytest.mark.parametrize(("nmask", "ntap"), SIZES)
@pytest.mark.parametrize("tapertype", TYPES, ids=str)
def test_taper_parity(nmask: int, ntap: int, tapertype: str | None) -> None:
    _close(tp.taper(nmask, ntap, tapertype), pt.taper(nmask, ntap, tapertype))


def test_cosine_taper_one_tapered_sample_is_no_taper() -> None:
    """ntap=1 means no taper, whatever nmask (PyLops gives ones even for nmask=1)."""
    for kind in ("cosine", "cosinesquare", "cosinesqrt"):
        for n in (1, 2, 5):
            _close(tp.taper(n, 1, kind), pt.taper(n, 1, kind))
            assert torch.equal(tp.taper(n, 1, kind), torch.ones(n, dtype=torch.float64))


@pytest.mark.parametrize(("nmask", "ntap"), SIZES)
def test_hanning_cosine_parity(nmask: int, ntap: int) -> None:
    _close(tp.hanningtaper(nmask, ntap), pt.hanningtaper(nmask, ntap))
    _close(tp.cosinetaper(nmask, ntap, square=True), pt.cosinetaper(nmask, ntap, square=True))
    _close(tp.cosinetaper(nmask, ntap, exponent=3.0), pt.cosinetaper(nmask, ntap, exponent=3.0))


@pytest.mark.parametrize("tapertype", TYPES, ids=str)
def test_multidimensional_taper_parity(tapertype: str | None) -> None:
    _close(tp.taper2d(9, 12, 3, tapertype), pt.taper2d(9, 12, 3, tapertype))
    _close(tp.taper2d(9, 12, (3, 2), tapertype), pt.taper2d(9, 12, (3, 2), tapertype))
    _close(tp.taper3d(5, (8, 11), (2, 3), tapertype), pt.taper3d(5, (8, 11), (2, 3), tapertype))
    _close(tp.tapernd((6, 9, 7), (2, 3, 1), tapertype), pt.tapernd((6, 9, 7), (2, 3, 1), tapertype))
    _close(tp.tapernd((6, 9, 7, 5), (2, 3, 1, 2), tapertype), pt.tapernd((6, 9, 7, 5), (2, 3, 1, 2), tapertype))


def test_taper_dtype_and_errors() -> None:
    assert tp.taper(9, 2, "cosine", dtype=torch.float32).dtype == torch.float32
    assert tp.taper2d(4, 9, 2, dtype="float32").dtype == torch.float32
    with pytest.raises(ValueError, match=r"ntap=5 must be smaller or equal than 4 \(nmask=9\)"):
        tp.hanningtaper(9, 5)
    with pytest.raises(ValueError, match=r"ntap=6 must be smaller or equal than 5"):
        tp.cosinetaper(11, 6)
    with pytest.raises(ValueError, match=r"tapertype must be one of .* got 'hann'"):
        tp.taper(9, 2, "hann")
    with pytest.raises(ValueError, match=r"nmask and ntap must have the same length, got 2 and 3"):
        tp.tapernd((4, 5), (1, 1, 1))
    with pytest.raises(ValueError, match=r"must be non-negative"):
        tp.hanningtaper(9, -1)


# ---------------------------------------------------------------------------- seismic events
PAR = {"ox": -50.0, "dx": 5.0, "nx": 21, "oy": -30.0, "dy": 10.0, "ny": 7, "ot": 0.0, "dt": 0.004, "nt": 61}


def _axes():
    t, t2, x, y = pse.makeaxis(PAR)
    wav = pw.ricker(t[:21], f0=20)[0]
    return t, x, y, wav


def test_makeaxis_parity() -> None:
    for ours, ref in zip(se.makeaxis(PAR), pse.makeaxis(PAR)):
        _close(ours, ref, 0.0)
    par2 = {k: v for k, v in PAR.items() if k not in ("oy", "dy", "ny")}
    assert se.makeaxis(par2)[3] is None
    with pytest.raises(ValueError, match=r"missing 'dt'"):
        se.makeaxis({k: v for k, v in PAR.items() if k != "dt"})


def _events_cases():
    t, x, y, wav = _axes()
    return [
        ("linear2d", (x, t, 1500.0, (0.02, 0.1, 0.2), (0.0, 20.0, -30.0), (1.0, -0.5, 0.7), wav)),
        ("linear2d-one", (x, t, 1500.0, 0.1, 10.0, 1.0, wav)),
        ("parabolic2d", (x, t, (0.02, 0.1), (0.0, 1e-4), (1e-5, -2e-6), (1.0, -0.5), wav)),
        ("hyperbolic2d", (x, t, (0.02, 0.1), (1500.0, 2500.0), (1.0, -0.5), wav)),
        ("hyperbolic2d-one", (x, t, 0.1, 1500.0, 1.0, wav)),
        ("linear3d", (x, y, t, 1500.0, (0.02, 0.1), (10.0, -20.0), (30.0, 60.0), (1.0, -0.5), wav)),
        # one velocity per trace (PyLops broadcasts v against x)
        ("linear2d-vx", (x, t, np.linspace(1200.0, 2500.0, x.size), (0.02, 0.1), (20.0, -30.0), (1.0, -0.5), wav)),
        ("linear3d-vx", (x, y, t, np.linspace(1200.0, 2500.0, x.size), (0.02, 0.1), (10.0, -20.0), (30.0, 60.0),
                         (1.0, -0.5), wav)),
        ("parabolic3d", (x, y, t, (0.05, 0.1), (1e-4, 0.0), (0.0, 2e-4), (1e-5, -2e-6), (0.0, 1e-6), (1.0, -0.5),
                         wav)),
        ("hyperbolic3d", (x, y, t, (0.02, 0.1), (1500.0, 2500.0), (1800.0, 2000.0), (1.0, -0.5), wav)),
    ]


@pytest.mark.parametrize("case", range(10), ids=[c[0] for c in _events_cases()])
@pytest.mark.parametrize("torch_inputs", [False, True], ids=["numpy", "torch"])
def test_seismic_events_parity(case: int, torch_inputs: bool) -> None:
    name, args = _events_cases()[case]
    fn = name.split("-")[0]
    ref = getattr(pse, fn)(*args)
    if torch_inputs:
        args = tuple(torch.from_numpy(a) if isinstance(a, np.ndarray) else a for a in args)
    d, dwav = getattr(se, fn)(*args)
    assert d.dtype == torch.float64 and dwav.dtype == torch.float64
    assert np.abs(ref[0]).sum() > 0  # events do land in the data
    _close(d, ref[0])
    _close(dwav, ref[1])


def test_seismic_events_bad_parameters() -> None:
    t, x, _, wav = _axes()
    with pytest.raises(ValueError, match=r"theta must have one value per event \(2\), got 3"):
        se.linear2d(x, t, 1500.0, (0.1, 0.2), (0.0, 1.0, 2.0), (1.0, 1.0), wav)
    # (a velocity per event is not PyLops' meaning of an array v, nor another length)
    for fn, args in (("linear2d", (x, t)), ("linear3d", (x, x[:3], t))):
        extra = ((10.0, 20.0),) if fn == "linear3d" else ()
        with pytest.raises(ValueError, match=rf"v must be one velocity or one per trace \(nx = {x.size}\), got 2"):
            getattr(se, fn)(*args, np.array([1500.0, 2000.0]), (0.1, 0.2), (0.0, 1.0), *extra, (1.0, 1.0), wav)


def test_convmtx_numpy_ints_and_klauder_length():
    import numpy as np

    from torchlops.utils.signalprocessing import convmtx
    from torchlops.utils.wavelets import klauder

    h = torch.randn(5, dtype=torch.float64)
    torch.testing.assert_close(convmtx(h, np.int64(8), np.int64(2)), convmtx(h, 8, 2))
    with pytest.raises(ValueError, match="klauder needs a time axis of at least 3 samples"):
        klauder(np.array([0.0]))


@pytest.mark.parametrize("fn", ["linear2d", "parabolic2d", "hyperbolic2d"])
def test_events_complex_amplitude_and_wavelet_shape(fn):
    """A complex amplitude: its real part with a warning, as PyLops (which warns too); a
    wavelet of more than one dimension: an error, as PyLops (it was flattened row-flipped)."""
    import pylops.utils.seismicevents as pse

    t, x, w = np.arange(50) * 0.004, np.arange(7) * 10.0, np.array([0.0, 1.0, 0.5])
    args = {"linear2d": (1500.0, [0.05], [10.0]), "parabolic2d": ([0.05], [1e-4], [1e-6]),
            "hyperbolic2d": ([0.05], [1500.0])}[fn]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = getattr(pse, fn)(x, t, *args, [1 + 1j], w)
    with pytest.warns(UserWarning, match="imaginary part is discarded"):
        got = getattr(se, fn)(x, t, *args, [1 + 1j], w)
    for g, r in zip(got, ref):
        assert g.dtype == torch.float64
        np.testing.assert_allclose(g.numpy(), r, rtol=1e-12, atol=1e-15)
    with pytest.raises(ValueError, match="1-D wavelet"):
        getattr(se, fn)(x, t, *args, [1.0], np.array([[0.0, 1.0, 0.5], [0.2, 0.3, 0.4]]))


def test_taper_sizes_must_be_integers() -> None:
    """A fractional size is a TypeError (as PyLops), not truncated: taper(10, 1.5, "cosine")
    was all ones (ntap 1: no taper) and taper(10.7, 2) ten samples long; NumPy ints and
    integer-valued sizes of the right kind pass; taper3d wants two sizes (an IndexError for one)."""
    for args in [(10, 2.5, "hanning"), (10, 1.5, "cosine"), (10.7, 2, "cosine"), (7, 2.9, "cosinesquare"), (5.5, 1, None)]:
        with pytest.raises(TypeError, match="must be an int"):
            tp.taper(*args)
    with pytest.raises(TypeError, match="must be an int"):
        tp.taper2d(4.5, 6, 2)
    with pytest.raises(TypeError, match="must be an int"):
        tp.taper3d(5, (8, 6), (2, 1.5))
    with pytest.raises(ValueError, match="two sizes"):
        tp.taper3d(5, (8, 6), (2,))
    # (more than two sizes: the first two, as PyLops)
    torch.testing.assert_close(tp.taper3d(5, (8, 6, 4), (2, 1, 3)), tp.taper3d(5, (8, 6), (2, 1)))
    torch.testing.assert_close(tp.taper(np.int64(10), np.int32(2), "hanning"), tp.taper(10, 2, "hanning"))
    torch.testing.assert_close(tp.taper3d(np.int64(5), np.array([8, 6]), np.array([2, 1])),
                               tp.taper3d(5, (8, 6), (2, 1)))


@pytest.mark.parametrize("fn", ["linear2d", "parabolic2d", "hyperbolic2d", "linear3d", "parabolic3d", "hyperbolic3d"])
def test_events_axes_as_column_vectors(fn):
    """Axes given as row or column vectors (as from reshape or meshgrid) are the 1-D axes they
    hold, as in PyLops (a column x was taken for one trace with every event summed, a column y
    for one line, and a column x in 3-D raised); a 2-D array or a one-sample time axis: an error."""
    import pylops.utils.seismicevents as pse

    t, x, y, w = np.arange(40) * 0.004, np.arange(6) * 10.0, np.arange(4) * 10.0, np.array([0.5, 1.0, 0.5])
    three = fn.endswith("3d")
    pars = {"linear2d": (1500.0, [0.05, 0.1], [10.0, -5.0]), "parabolic2d": ([0.05, 0.1], [1e-4, 0.0], [1e-6, 0.0]),
            "hyperbolic2d": ([0.05, 0.1], [1500.0, 2000.0]),
            "linear3d": (1500.0, [0.05, 0.1], [10.0, -5.0], [5.0, 0.0]),
            "parabolic3d": ([0.05, 0.1], [1e-4, 0.0], [0.0, 1e-4], [1e-6, 0.0], [0.0, 1e-6]),
            "hyperbolic3d": ([0.05, 0.1], [1500.0, 2000.0], [1500.0, 2000.0])}[fn]
    amp = [1.0, -0.5]
    axes = (x, y, t) if three else (x, t)
    ref = getattr(pse, fn)(*axes, *pars, amp, w)
    for k in range(len(axes)):
        for shape in ((-1, 1), (1, -1)):
            cols = [a.reshape(shape) if i == k else a for i, a in enumerate(axes)]
            got = getattr(se, fn)(*cols, *pars, amp, w)
            assert tuple(got[0].shape) == ref[0].shape
            np.testing.assert_allclose(got[0].numpy(), ref[0], rtol=1e-12, atol=1e-14)
    with pytest.raises(ValueError, match=r"x must be a 1-D axis .* got shape \(2, 3\)"):
        getattr(se, fn)(x.reshape(2, 3), *axes[1:], *pars, amp, w)
    with pytest.raises(ValueError, match="t needs at least 2 samples"):
        getattr(se, fn)(*axes[:-1], t[:1], *pars, amp, w)
    if three:
        with pytest.raises(ValueError, match="y must be an axis"):
            getattr(se, fn)(x, None, t, *pars, amp, w)


def test_utility_bad_sizes_are_clear_errors() -> None:
    """taper2d with a one-size sequence, tapernd of no dimension, convmtx of an empty filter and a
    wavelet taper of the wrong length: ValueErrors naming the argument (IndexError or a size
    mismatch from inside before)."""
    from torchlops.utils.signalprocessing import convmtx

    with pytest.raises(ValueError, match="a sequence ntap must hold two sizes"):
        tp.taper2d(5, 8, [2])
    torch.testing.assert_close(tp.taper2d(5, 8, [2, 1, 7]), tp.taper2d(5, 8, [2, 1]))  # (the first two, as PyLops)
    with pytest.raises(ValueError, match="tapernd needs at least one dimension"):
        tp.tapernd((), ())
    with pytest.raises(ValueError, match=r"h must be a non-empty 1-D filter, got shape \(0,\)"):
        convmtx(torch.zeros(0, dtype=torch.float64), 4)
    with pytest.raises(ValueError, match=r"taper\(n\) must return n = 13 weights, got shape \(5,\)"):
        wv.ricker(np.arange(7) * 0.004, 20.0, taper=lambda n: np.ones(5))
    w, _, _ = wv.ricker(np.arange(7) * 0.004, 20.0, taper=lambda n: np.hanning(n))
    w0, _, _ = wv.ricker(np.arange(7) * 0.004, 20.0)
    torch.testing.assert_close(w, w0 * torch.as_tensor(np.hanning(13)))
