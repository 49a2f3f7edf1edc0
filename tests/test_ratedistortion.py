import math

import numpy as np
import pandas as pd
import pytest

from aelib.codec.codec import encode
from aelib.config import FAMILIES, LossWeights, RDTraining
from aelib.data import Dataset
from aelib.errors import AelibError
from aelib.experiments.ratedistortion import (
    LADDER_METRICS,
    Family,
    LpipsReference,
    _metrics_row,
    classical_codecs_table,
    hyperprior_settings,
    ladder_rungs,
    ladder_table,
    measure_classical,
    measure_hyperprior,
    measure_model,
    measure_step_sweep,
    step_sweep_method,
)
from aelib.measure.baselines import encode_with_codec
from aelib.measure.curves import (
    CLASSICAL_SWEEPS,
    EQUAL_QUALITY_METRICS,
    bd_rate_table,
    bd_rate_with_interval,
    best_family,
    curves,
    equal_quality_table,
    meaningful,
    ours_against_each,
    strongest_codec,
    without_container,
)
from aelib.measure.metrics import ms_ssim, psnr
from aelib.measure.registry import METRICS, Metric, register
from aelib.nn.lpips import lpips
from aelib.report.prose import (
    against_every_codec,
    equal_quality_findings,
    equal_quality_summary,
    findings,
    format_bd,
    readable_bd_table,
)
from aelib.training.families import BASE_MODEL, model_name, rate_weight, train_families, training_order


def test_rate_weight_is_one_over_lambda_in_the_distortions_unit():
    assert rate_weight(FAMILIES["mse"], 0.01) == pytest.approx(1 / (0.01 * 255**2))
    assert rate_weight(FAMILIES["hybrid"], 4.0) == pytest.approx(0.25)
    with pytest.raises(AelibError, match="λ must be > 0"):
        rate_weight(FAMILIES["mse"], 0.0)
    assert model_name(FAMILIES["mse"], 0.018) == "rd_mse_0.018"


@pytest.mark.parametrize("name", ["hybrid", "mse"])
def test_each_family_has_at_least_five_increasing_lambdas(name):
    lambdas = FAMILIES[name].lambdas
    assert len(lambdas) >= 5 and list(lambdas) == sorted(lambdas)
    assert all(len(qualities) >= 8 for _, qualities in CLASSICAL_SWEEPS.values())


def test_curves_average_each_setting_over_its_images():
    rows = pd.DataFrame(
        {
            "method": ["A", "A", "A", "A"],
            "setting": [1, 1, 2, 2],
            "bpp": [1.0, 3.0, 4.0, 6.0],
            "psnr": [30.0, 32.0, 40.0, 42.0],
            "ssim": [0.5, 0.7, 0.8, 1.0],
            "ms_ssim": [0.6, 0.8, 0.9, 1.0],
            "lpips": [0.2, math.nan, 0.1, math.nan],
        }
    )
    points = curves(rows)
    assert points["bpp"].tolist() == [2.0, 5.0]
    assert points["psnr"].tolist() == [31.0, 41.0]
    assert points["lpips"].tolist() == pytest.approx([0.2, 0.1])  # images without LPIPS are left out of its mean
    assert points["images"].tolist() == [2, 2]
    assert "ciede2000" not in points  # a table measured before colour was: no such column
    points = curves(rows.assign(ciede2000=[1.0, 2.0, 0.5, 0.7], mean_shift_r=[-4.0, -2.0, 1.0, 0.0]))
    assert points["ciede2000"].tolist() == pytest.approx([1.5, 0.6]) and points["mean_shift_r"].tolist() == [-3.0, 0.5]


@pytest.fixture
def negative_mae():
    """The mean absolute error, negated (higher is better), registered for one test."""

    def compute(original: np.ndarray, reconstruction: np.ndarray) -> float:
        return -float(np.abs(original.astype(np.float64) - reconstruction).mean())

    metric = register(Metric("neg_mae", "−MAE", "neg_mae", " levels", min_overlap=0.5, compute=compute))
    yield metric
    del METRICS[metric.key]


def test_a_registered_metric_is_measured_and_gets_curves_bd_rates_and_sentences(negative_mae):
    """Adding a metric is one registry entry and its function, with no other change to the study's code."""
    with pytest.raises(AelibError, match="registered already"):
        register(Metric("neg_mae", "again", "other"))

    original = np.random.default_rng(0).integers(0, 250, (64, 64, 3), dtype=np.uint8)
    row = _metrics_row(original, original + 2, 40, "noise")
    assert row["neg_mae"] == -2.0 and row["psnr"] == pytest.approx(psnr(original, original + 2))

    def with_mae(method: str, scale: float) -> pd.DataFrame:
        rows = _per_image(method, scale)
        return rows.assign(neg_mae=-(50.0 - rows["psnr"]))  # rises with PSNR: the same curves, another axis

    per_image = pd.concat([with_mae("JPEG 4:2:0", 1.0), with_mae("WebP", 0.5)], ignore_index=True)
    points = curves(per_image)
    assert points["neg_mae"].tolist()[:2] == [-20.0, -17.0]
    table = bd_rate_table(per_image)
    assert table["bd_rate_neg_mae"].tolist() == pytest.approx([-50.0])  # half the bits at every quality
    assert table.loc[0, "neg_mae_from"] == -20.0 and table.loc[0, "neg_mae_to"] == -8.0
    readable = readable_bd_table(table)
    assert readable.loc[0, "−MAE"].startswith("-50.0 % [-50.0, -50.0]") and "levels" in readable.loc[0, "−MAE"]
    standing = ours_against_each(per_image.replace({"WebP": "ours (mse)"}), ["ours (mse)"])
    assert "−MAE -50.0 %" in findings(standing.assign(test_set="test"), {"test": "JPEG 4:2:0"})


def _per_image(method: str, scale: float, images: int = 4, noise: float = 0.0) -> pd.DataFrame:
    """Rows of a curve of five settings on a few images; the rates are scale × a common curve (× noise per image)."""
    quality = np.array([30.0, 33.0, 36.0, 39.0, 42.0])
    rates = np.array([0.3, 0.5, 0.8, 1.3, 2.1]) * scale
    generator = np.random.default_rng(len(method))
    rows = []
    for setting, (q, rate) in enumerate(zip(quality, rates)):
        for image in range(images):
            rows.append(
                {
                    "method": method,
                    "setting": setting,
                    "image": f"im{image}",
                    "bpp": rate * (1 + noise * generator.standard_normal()),
                    "psnr": q,
                    "ssim": 1 - 10 ** (-q / 30),
                    "ms_ssim": 1 - 10 ** (-q / 20),
                    "lpips": 10 / q if image < 2 else math.nan,
                }
            )
    return pd.DataFrame(rows)


def test_bd_rate_tables_against_jpeg_and_against_each_codec():
    per_image = pd.concat(
        [
            _per_image("JPEG 4:2:0", 1.0),
            _per_image("WebP", 0.5),
            _per_image("ours (mse)", 0.8),
            _per_image("3-layer", 1.0).iloc[:4].assign(setting="paper"),
        ],
        ignore_index=True,
    )
    table = bd_rate_table(per_image)
    assert table["method"].tolist() == ["WebP", "ours (mse)"]  # the single point is no curve
    for metric in METRICS:
        assert table[f"bd_rate_{metric}"].tolist() == pytest.approx([-50.0, -20.0])
        # Every image scales by the same factor, so every resample gives the same number.
        assert table[f"{metric}_ci_low"].tolist() == pytest.approx([-50.0, -20.0])
    assert table.loc[0, "psnr_from"] == 30.0 and table.loc[0, "psnr_to"] == 42.0
    assert table.loc[0, "ms_ssim_db_to"] == pytest.approx(42.0 / 2)  # MS-SSIM in dB: -10·log10(10^(-q/20))
    standing = ours_against_each(per_image, ["ours (mse)"])
    assert standing["against"].tolist() == ["JPEG 4:2:0", "WebP"]
    assert standing["bd_rate_psnr"].tolist() == pytest.approx([-20.0, 60.0])
    # BD-PSNR beside the BD-rate, against the bjontegaard package on the two mean curves.
    quality = [30.0, 33.0, 36.0, 39.0, 42.0]
    rates = np.array([0.3, 0.5, 0.8, 1.3, 2.1])
    bjontegaard = pytest.importorskip("bjontegaard")
    expected = bjontegaard.bd_psnr(0.5 * rates, quality, 0.8 * rates, quality, method="pchip", min_overlap=0)
    assert standing.loc[1, "bd_psnr"] == pytest.approx(expected, abs=1e-9) and expected < 0
    text = findings(standing.assign(test_set="test"), {"test": "WebP"})
    assert (
        f"ours (mse) against WebP: PSNR +60.0 % [+60.0, +60.0], {expected:+.2f} dB [{expected:+.2f}, {expected:+.2f}] "
        "at equal rate over 30–42 dB — more bits"
    ) in text
    assert strongest_codec(table) == "WebP"


def test_bootstrap_interval_holds_the_estimate_and_widens_with_spread_between_images():
    per_image = pd.concat([_per_image("JPEG 4:2:0", 1.0, 30, 0.2), _per_image("AVIF", 0.7, 30, 0.2)], ignore_index=True)
    result = bd_rate_with_interval(per_image, "JPEG 4:2:0", "AVIF", "psnr")
    assert result["ci_low"] < result["bd_rate"] < result["ci_high"]
    assert -40 < result["bd_rate"] < -20 and result["ci_high"] - result["ci_low"] > 1
    lpips_only = bd_rate_with_interval(per_image, "JPEG 4:2:0", "AVIF", "lpips")
    assert lpips_only["from"] == pytest.approx(10 / 42) and not math.isnan(lpips_only["bd_rate"])


def test_curves_that_barely_meet_read_no_overlap():
    shifted = _per_image("WebP", 1.0).assign(psnr=lambda t: t["psnr"] + 11.5)
    per_image = pd.concat([_per_image("JPEG 4:2:0", 1.0), shifted], ignore_index=True)
    row = bd_rate_table(per_image).iloc[0]
    assert math.isnan(row["bd_rate_psnr"]) and (row["psnr_from"], row["psnr_to"]) == (41.5, 42.0)
    # No BD-rate, but at equal rate the curves lie exactly 11.5 dB apart: BD-PSNR says so.
    words = "no overlap (shared 41.5–42 dB, +11.50 dB [+11.50, +11.50] at equal rate)"
    assert format_bd(row, "psnr") == words
    assert readable_bd_table(bd_rate_table(per_image))["PSNR"].tolist() == [words]


def test_the_ladder_gives_each_rung_against_jpeg_and_the_strongest_codec_with_its_decode_time(tmp_path):
    from aelib.report.figures import plot_ladder, save_figure

    per_image = pd.concat(
        [
            _per_image("JPEG 4:2:0", 1.0),
            _per_image("WebP", 0.5),
            _per_image("3-layer, Δ sweep", 2.0).assign(decode_s=0.004),
            _per_image("ours (mse)", 0.8).assign(decode_s=0.002),
        ],
        ignore_index=True,
    )
    families = [FAMILIES["mse"]]
    rungs = ladder_rungs(["5-layer", "3-layer"], families, ["hp (hyperprior)"])
    assert list(rungs.values()) == ["3-layer, Δ sweep", "ours (mse)", "hp (hyperprior)"]
    ladder = ladder_table(per_image, rungs, "WebP")
    assert ladder["method"].tolist() == ["3-layer, Δ sweep", "ours (mse)"]  # the hyperprior was not measured
    # Rates are scale × one curve: the BD-rates are the ratios of the scales, whatever the metric.
    for metric in LADDER_METRICS:
        assert ladder[f"bd_rate_{metric}_jpeg"].tolist() == pytest.approx([100.0, -20.0])
        assert ladder[f"bd_rate_{metric}_strongest"].tolist() == pytest.approx([300.0, 60.0])
    assert ladder["decode_ms"].tolist() == pytest.approx([4.0, 2.0])
    assert save_figure(plot_ladder(ladder, "ladder"), tmp_path / "ladder.png").stat().st_size > 0


def test_far_apart_curves_that_share_under_two_decibels_read_no_meaningful_overlap():
    # WebP spends 40× the bits of JPEG's curve 10.5 dB lower: the curves share only 40.5–42 dB, and there
    # WebP needs several times JPEG's bits.
    shifted = _per_image("WebP", 40.0).assign(psnr=lambda t: t["psnr"] + 10.5)
    per_image = pd.concat([_per_image("JPEG 4:2:0", 1.0), shifted], ignore_index=True)
    row = bd_rate_table(per_image).iloc[0]
    assert row["bd_rate_psnr"] > 100 and (row["psnr_from"], row["psnr_to"]) == (40.5, 42.0)
    assert not meaningful(row, "psnr")
    assert format_bd(row, "psnr").startswith(f"no meaningful overlap ({row['bd_rate_psnr']:+.0f} % over 40.5–42 dB")
    # Over the same sliver, curves within a factor of two of each other keep their number.
    close = pd.concat([_per_image("JPEG 4:2:0", 1.0), shifted.assign(bpp=lambda t: t["bpp"] / 5)], ignore_index=True)
    close_row = bd_rate_table(close).iloc[0]
    assert -50 < close_row["bd_rate_psnr"] < 100 and meaningful(close_row, "psnr")
    assert format_bd(close_row, "psnr").startswith(f"{close_row['bd_rate_psnr']:+.1f} % [")


def test_the_rate_without_the_container_takes_each_files_header_bytes_off():
    per_image = pd.concat([_per_image("JPEG 4:2:0", 1.0), _per_image("WebP", 0.5)], ignore_index=True)
    per_image["bytes"] = per_image["bpp"] * 128 * 128 / 8
    with pytest.raises(AelibError, match="header_bytes"):
        bd_rate_table(per_image, container="excluded")
    # JPEG pays a fixed 200 bytes per file, WebP 20: without them JPEG sheds more, and WebP's lead shrinks.
    per_image["header_bytes"] = np.where(per_image["method"] == "WebP", 20, 200)
    payload = without_container(per_image)
    expected = (per_image["bytes"] - per_image["header_bytes"]) * 8 / (128 * 128)
    assert payload["bpp"].to_numpy() == pytest.approx(expected.to_numpy())
    counted = bd_rate_table(per_image).iloc[0]
    excluded = bd_rate_table(per_image, container="excluded").iloc[0]
    assert (counted["container"], excluded["container"]) == ("counted", "excluded")
    assert counted["bd_rate_psnr"] == pytest.approx(-50.0)
    assert -50.0 < excluded["bd_rate_psnr"] < 0
    with pytest.raises(AelibError, match="container"):
        bd_rate_table(per_image, container="sometimes")


def test_the_codec_table_states_every_codec_and_its_header():
    table = classical_codecs_table()
    assert table["method"].tolist() == list(CLASSICAL_SWEEPS)
    assert len(table) >= 7 and (table["header bytes"] > 0).all()
    assert table["implementation"].str.contains("through").all()


def test_classical_rows_are_real_file_sizes_and_metrics(photos):
    sweeps = {"JPEG 4:4:4": ("jpeg444", (10, 60))}
    rows = measure_classical(list(photos[:2]), ["a", "b"], LpipsReference(list(photos[:2]), 1), sweeps=sweeps)
    assert len(rows) == 4
    row = rows[(rows["setting"] == 60) & (rows["image"] == "b")].iloc[0]
    result = encode_with_codec(photos[1], "jpeg444", 60)
    assert row["bytes"] == len(result.data) and row["bpp"] == pytest.approx(8 * len(result.data) / 64**2)
    assert row["psnr"] == pytest.approx(psnr(photos[1], result.decoded))
    assert row["ms_ssim"] == pytest.approx(ms_ssim(photos[1], result.decoded))
    assert rows["lpips"].notna().tolist() == [True, False, True, False]
    first = rows[(rows["setting"] == 10) & (rows["image"] == "a")].iloc[0]
    assert first["lpips"] == pytest.approx(
        lpips(photos[0], encode_with_codec(photos[0], "jpeg444", 10).decoded), abs=1e-6
    )


def test_lpips_reference_handles_images_of_different_sizes(photos):
    images = [photos[0], photos[1][:48], photos[2]]
    decoded = [np.flipud(image) for image in images]
    rows = [{"lpips": math.nan} for _ in images]
    LpipsReference(images, 2).fill(rows, decoded)
    assert rows[0]["lpips"] == pytest.approx(lpips(images[0], decoded[0]), abs=1e-6)
    assert rows[1]["lpips"] == pytest.approx(lpips(images[1], decoded[1]), abs=1e-6)
    assert math.isnan(rows[2]["lpips"])


def test_model_rows_use_real_aec_sizes(photos, codec):
    rows = measure_model(list(photos[:2]), ["a", "b"], codec, "ours", 1.0, LpipsReference([], 0))
    assert rows["bytes"].tolist() == [len(encode(photo, codec)) for photo in photos[:2]]
    assert rows["lpips"].isna().all()


def test_a_paper_model_swept_over_quantisation_steps_is_a_curve_whose_unit_step_is_the_model(images, codec):
    test = list(images[:3])
    lpips = LpipsReference([], 0)
    rows = measure_step_sweep(test, list("abc"), codec, images, "3-layer", lpips, steps=(1.0, 2.0, 8.0))
    assert set(rows["method"]) == {"3-layer, Δ sweep"} and rows["setting"].tolist() == [1.0] * 3 + [2.0] * 3 + [8.0] * 3
    # The conftest codec's tables were fitted to these same images: at Δ = 1 the sweep writes its files.
    assert rows[rows["setting"] == 1.0]["bytes"].tolist() == [len(encode(image, codec)) for image in test]
    mean_bpp = rows.groupby("setting")["bpp"].mean()
    assert mean_bpp[1.0] > mean_bpp[2.0] > mean_bpp[8.0]


def test_a_hyperprior_is_a_curve_of_real_version_3_files_whatever_the_image_sizes(photos):
    from pathlib import Path

    from aelib.codec import hyper
    from aelib.codec.format import HEADER_3

    codec = hyper.load_hyper_codec(Path(__file__).resolve().parent / "expected" / "hyper_tiny.keras")
    assert hyperprior_settings(codec) == list(range(0, codec.qualities, 8))
    same_size = list(photos[:3])
    rows = measure_hyperprior(same_size, list("abc"), codec, "tiny (hyperprior)", LpipsReference([], 0))
    assert rows["setting"].tolist() == [q for q in hyperprior_settings(codec) for _ in same_size]
    for quality, group in rows.groupby("setting"):
        files = [hyper.encode(photo, codec, quality) for photo in same_size]  # one at a time: the same files
        assert group["bytes"].tolist() == [len(data) for data in files]
        decoded = [hyper.decode(data, codec) for data in files]
        assert group["psnr"].tolist() == pytest.approx([psnr(a, b) for a, b in zip(same_size, decoded)], abs=0.05)
    assert (rows["header_bytes"] == HEADER_3.size).all()
    mixed = [photos[0], photos[1][:40, :57]]
    mixed_rows = measure_hyperprior(mixed, ["a", "b"], codec, "tiny", LpipsReference([], 0), qualities=[0])
    assert mixed_rows["bytes"].tolist() == [len(hyper.encode(image, codec, 0)) for image in mixed]


@pytest.fixture()
def tiny(images):
    dataset = Dataset("tiny", images[:16], images[16:20], images[20:24], tuple("abcd"))
    family = Family("mse", LossWeights(0.0, 0.0, 1.0), 255.0**2, (0.01,))
    training = RDTraining(channels=4, latent_channels=4, crop_size=16, batch_size=4, base_steps=1, finetune_steps=1)
    return dataset, family, training


@pytest.mark.slow
def test_train_families_reuses_finished_models_and_guards_other_settings(tmp_path, tiny, capsys):
    dataset, family, training = tiny
    codecs = train_families(dataset, [family], training, tmp_path)
    assert set(codecs) == {BASE_MODEL, "rd_mse_0.01"}
    model = tmp_path / "rd_mse_0.01.keras"
    stamp = model.stat().st_mtime_ns
    capsys.readouterr()
    again = train_families(dataset, [family], training, tmp_path)
    assert "loaded" in capsys.readouterr().out and model.stat().st_mtime_ns == stamp
    assert again["rd_mse_0.01"].fingerprint == codecs["rd_mse_0.01"].fingerprint

    other = RDTraining(channels=4, latent_channels=4, crop_size=16, batch_size=4, base_steps=2, finetune_steps=1)
    with pytest.raises(AelibError, match="trained with other settings"):
        train_families(dataset, [family], other, tmp_path)
    retrained = train_families(dataset, [family], other, tmp_path, force=True)
    assert retrained[BASE_MODEL].fingerprint != codecs[BASE_MODEL].fingerprint


def test_training_order_chains_outwards_from_the_middle_lambda():
    family = Family("mse", LossWeights(0.0, 0.0, 1.0), 1.0, (1.0, 2.0, 3.0, 4.0, 5.0))
    order = [(lam, start) for _, lam, start in training_order([family])]
    assert order == [(3.0, None), (4.0, 3.0), (5.0, 4.0), (2.0, 3.0), (1.0, 2.0)]


def test_single_models_and_family_members_meet_the_codec_at_equal_quality():
    per_image = pd.concat(
        [
            _per_image("WebP", 0.5),
            _per_image("ours (mse)", 0.8),
            _per_image("3-layer", 1.0).iloc[:4].assign(setting="paper"),  # q 30 at 0.3 bpp; WebP: 0.15 there
            _per_image("10-layer", 1.0).iloc[:4].assign(setting="paper", psnr=45.0),
        ],
        ignore_index=True,
    )
    table = equal_quality_table(curves(per_image), "WebP")
    assert table["method"].tolist() == ["ours (mse)"] * 5 + ["3-layer", "10-layer"]
    assert table["psnr_codec_bpp"].iloc[:6].tolist() == pytest.approx([0.15, 0.25, 0.4, 0.65, 1.05, 0.15])
    assert table["psnr_bits_ratio"].iloc[:6].tolist() == pytest.approx([1.6] * 5 + [2.0])
    assert table["ms_ssim_db_bits_ratio"].iloc[5] == pytest.approx(2.0)  # MS-SSIM in dB is q/2 here: the same nodes
    assert math.isnan(table["psnr_bits_ratio"].iloc[6])  # 45 dB lies beyond WebP's 42
    text = equal_quality_findings(table.assign(test_set="test"), ["ours (mse)"])
    assert "- **test**, ours (mse) against WebP: PSNR: we spend 1.60–1.60× its bits at 5 of 5 points;" in text
    assert "3-layer (0.300 bpp) against WebP: at PSNR 30 dB, WebP needs 0.150 bpp: we spend 2.00× its bits" in text
    assert "10-layer (0.300 bpp) against WebP: at PSNR 45 dB, above every WebP setting (its highest, 42 dB" in text
    sweep = table[table["method"] == "3-layer"].assign(method=step_sweep_method("3-layer"))
    summary = equal_quality_summary(pd.concat([table, sweep]).assign(test_set="test"), ["ours (mse)"])
    assert summary.endswith("beyond its settings): 3-layer 2.00× / 2.00×, 10-layer outside / 2.00×")  # no Δ sweep
    assert summary.startswith("- **test**, against WebP at equal PSNR / MS-SSIM") and "ours" not in summary
    ours = per_image["method"] == "ours (mse)"
    per_image.loc[ours, "psnr"] -= 13.0  # every member now below WebP's lowest 30 dB
    lower = equal_quality_table(curves(per_image), "WebP").assign(test_set="t")
    lower_text = equal_quality_findings(lower, ["ours (mse)"])
    assert (
        "ours (mse) against WebP: PSNR: 5 of 5 lie below every WebP setting; MS-SSIM: we spend 1.60–1.60×" in lower_text
    )


def test_the_best_family_meets_every_codec_in_one_line_with_a_word_for_each():
    # WebP needs half JPEG's bits; "ours (a)" 0.4× (beats both), "ours (b)" 0.8× (beats JPEG, loses to WebP);
    # with per-image noise the intervals are real ones.
    per_image = pd.concat(
        [
            _per_image(m, s, images=12, noise=0.05)
            for m, s in [("JPEG 4:2:0", 1.0), ("WebP", 0.5), ("ours (a)", 0.4), ("ours (b)", 0.8)]
        ],
        ignore_index=True,
    )
    standing = ours_against_each(per_image, ["ours (a)", "ours (b)"]).assign(test_set="test")
    assert best_family(standing, "test", "WebP") == "ours (a)"
    line = against_every_codec(standing, {"test": "WebP"}, EQUAL_QUALITY_METRICS)
    assert line.startswith(
        "- **test**, our best family, ours (a), against every codec, BD-rate in PSNR / MS-SSIM (dB): "
    )
    assert "JPEG 4:2:0 -60 % / -60 % (wins); WebP -20 % / -20 % (wins)" in line
    b_only = standing[standing["family"] == "ours (b)"]
    assert "WebP +60 % / +60 % (loses)" in against_every_codec(b_only, {"test": "WebP"}, EQUAL_QUALITY_METRICS)
