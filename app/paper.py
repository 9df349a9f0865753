"""The paper's reported κ / ρ / SR (docs/methods.md's table, from Masarczyk et al. 2025, Tables 1–3 and 6).

Columns of the paper's table are temperature *slots*; the temperature in a slot depends on the row
(VGG-19 used T = 50 and 100 where the others used 100 and 1000; CIFAR-100 ResNets 200 for the last).
Every entry here carries its real temperature. None = "—" (training failed in the paper).
"""

from __future__ import annotations

import polars as pl

from app.charts import t_label

# (model label, arch, dataset, temperatures of the four slots, four "κ/ρ/SR" cells)
_TABLE = [
    ("ResNet-18, CIFAR-10", "resnet18", "cifar10", (1, 10, 100, 1000), ("100/8/9", "88/42/9", "81/49/9", "81/52/9")),
    ("ResNet-20, CIFAR-10", "resnet20", "cifar10", (1, 10, 100, 1000), ("100/10/9", "94/24/9", "83/34/9", None)),
    ("VGG-19, CIFAR-10", "vgg19", "cifar10", (1, 10, 50, 100), ("53/64/9", "59/65/9", "59/66/9", "59/63/9")),
    ("ResNet-18, CIFAR-100", "resnet18", "cifar100", (1, 10, 100, 200), ("100/10/99", "94/30/99", "88/48/94", "81/43/57")),
    ("ResNet-34, CIFAR-100", "resnet34", "cifar100", (1, 10, 100, 200), ("100/12/99", "91/37/99", "72/49/90", "72/50/61")),
    ("VGG-19, CIFAR-100", "vgg19", "cifar100", (1, 10, 50, 100), ("53/69/74", "53/62/55", "53/68/46", "53/69/45")),
    ("ResNet-34, ImageNet-1k", "resnet34", "imagenet1k", (1, 10, 100, 1000), ("100/5/512", "94/2/462", "94/11/262", "82/23/122")),
    ("ResNet-50, ImageNet-1k", "resnet50", "imagenet1k", (1, 10, 100, 1000), ("100/5/947", "100/2/509", "90/14/249", "78/22/128")),
]

# Table 6 (MSE loss, ResNet-34 on CIFAR-100). "Low logits norm" is the paper's wording; our mapping: the MSE
# runs trained at the largest temperature above 1 (a temperature > 1 is how a run gets a low logits norm).
MSE_ROWS = [
    ("ResNet-34, CIFAR-100, MSE baseline", "resnet34", "cifar100", "mse", "baseline", "100/10/99"),
    ("ResNet-34, CIFAR-100, MSE low logits norm", "resnet34", "cifar100", "mse", "low_norm", "90/20/95"),
]


def reported() -> pl.DataFrame:
    """One row per reported cell: model, arch, dataset, loss, temperature (None = 'largest T > 1'), kappa, rho, sr."""
    rows = []
    for label, arch, dataset, temps, cells in _TABLE:
        for t, cell in zip(temps, cells):
            if cell is None:
                continue
            k, r, s = (float(x) for x in cell.split("/"))
            rows.append(dict(model=label, arch=arch, dataset=dataset, loss="ce", slot=f"T={t:g}",
                             temperature=float(t), kappa=k, rho=r, sr=s))
    for label, arch, dataset, loss, slot, cell in MSE_ROWS:
        k, r, s = (float(x) for x in cell.split("/"))
        rows.append(dict(model=label, arch=arch, dataset=dataset, loss=loss, slot=slot,
                         temperature=1.0 if slot == "baseline" else None, kappa=k, rho=r, sr=s))
    return pl.DataFrame(rows, schema_overrides={"temperature": pl.Float64})


def configurations() -> tuple[dict, ...]:
    """The run filters of every configuration the paper reports, for Queries.kappa_rho(any_of=...): arch, dataset
    and loss with the temperatures of its row (the MSE rows any temperature: 'low_norm' is the largest T > 1
    measured). The Paper check reads only these groups, not every group of the warehouse."""
    table = reported()
    out = []
    for (arch, dataset, loss), rows in table.group_by(["arch", "dataset", "loss"], maintain_order=True):
        temps = rows["temperature"].to_list()
        f = {"arch": arch, "dataset": dataset, "loss": loss}
        out.append(f if None in temps else {**f, "temperature": sorted(temps)})
    return tuple(out)


def compare(measured: pl.DataFrame, tolerance: float = 2.0) -> pl.DataFrame:
    """The paper's value beside the measured mean ± std for every reported cell that has runs (ρ on the
    paper's OOD set).

    `measured` is data.kappa_rho's frame (one row per seed group). A cell matches groups with the same arch,
    dataset, loss and temperature (for 'low_norm': the largest T > 1 measured for that model). `flag` is set
    when the paper's value lies more than `tolerance` std (or 5 points when std is 0) from the mean.
    Long format: one row per (cell, seed group, quantity).
    """
    paper = reported()
    if measured.is_empty():
        return pl.DataFrame()
    if "rho_ood" in measured.columns:  # ρ on the paper's OOD set: SVHN for CIFAR, CIFAR-100 for ImageNet
        want = pl.when(pl.col("dataset") == "imagenet1k").then(pl.lit("cifar100")).otherwise(pl.lit("svhn"))
        # one row per group: the one with ρ on the paper's set, else any row with ρ blanked (κ and SR still count)
        measured = (
            measured.with_columns((pl.col("rho_ood") == want).fill_null(False).alias("_match"))
            .sort("_match", descending=True).group_by("config_group", maintain_order=True).first()
            .with_columns(pl.when(pl.col("_match")).then(pl.col("rho")).alias("rho"),
                          pl.when(pl.col("_match")).then(pl.col("rho_std")).alias("rho_std"))
            .drop("_match")
        )
    low = (measured.filter((pl.col("loss") == "mse") & (pl.col("temperature") > 1))
           .group_by("arch", "dataset").agg(pl.col("temperature").max().alias("t_low")))
    paper = paper.join(low, on=["arch", "dataset"], how="left").with_columns(
        pl.when(pl.col("slot") == "low_norm").then(pl.col("t_low")).otherwise(pl.col("temperature"))
        .alias("temperature")).drop("t_low").drop_nulls("temperature")
    joined = paper.join(measured, on=["arch", "dataset", "loss", "temperature"], how="inner", suffix="_m")
    if joined.is_empty():
        return pl.DataFrame()
    out = []
    for q, p_col, m_col, s_col in (("κ", "kappa", "kappa_m", "kappa_std"), ("ρ", "rho", "rho_m", "rho_std"),
                                   ("SR", "sr", "sr_m", "sr_std")):
        out.append(joined.select(
            "model", "slot", "temperature", "config_group", "n", pl.lit(q).alias("quantity"),
            pl.col(p_col).alias("paper"), pl.col(m_col).alias("measured"), pl.col(s_col).alias("std"),
        ))
    long = pl.concat(out).drop_nulls("measured").with_columns(
        (pl.col("measured") - pl.col("paper")).alias("diff"),
        (pl.col("measured") - pl.col("std")).alias("lo"), (pl.col("measured") + pl.col("std")).alias("hi"),
        pl.concat_str([pl.col("model"), pl.lit(", "), pl.col("slot")]).alias("config"),
    )
    allowed = pl.max_horizontal(pl.col("std") * tolerance, pl.lit(5.0))
    return long.with_columns(((pl.col("diff").abs() > allowed) & pl.col("measured").is_not_null()).alias("flag"))


def measured_layout(kr: pl.DataFrame, varying: list[str] = ()) -> pl.DataFrame:
    """Measured κ/ρ/SR in the paper's layout (Tables 2 and 3): one row per model and data ('model, data'), one
    column per temperature ('T=10', in temperature order), cells 'κ/ρ/SR' as seed means rounded to whole numbers
    like the paper's. `kr` is Queries.kappa_rho's frame for one OOD set of ρ; `varying` names further config
    fields that tell rows apart (added to the label as ', field=value'). The κ/ρ page and the report share it."""
    label = [pl.col("arch"), pl.lit(", "), pl.col("dataset")]
    if kr["loss"].n_unique() > 1:
        label += [pl.lit(", "), pl.col("loss")]
    for k in varying:
        label += [pl.lit(f", {k}="), pl.col(k).cast(pl.String)]
    cells = kr.with_columns(
        pl.concat_str(label).alias("model, data"),
        pl.col("temperature").map_elements(t_label, return_dtype=pl.String).alias("T"),
        pl.format("{}/{}/{}", *(_whole(c) for c in ("kappa", "rho", "sr"))).alias("cell"),
    )
    order = [t_label(t) for t in sorted(kr["temperature"].unique().to_list())]
    table = cells.pivot(on="T", index="model, data", values="cell", aggregate_function="first")
    return table.select("model, data", *[t for t in order if t in table.columns]).sort("model, data")


def _whole(col: str) -> pl.Expr:
    """A mean rounded like the paper's cells; '—' where there is none (a run without SR, say)."""
    return pl.col(col).round(0).cast(pl.Int64).cast(pl.String).fill_null("—")
