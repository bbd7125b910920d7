"""mkdocs hooks: the parts of the site generated at build time, so that nothing listed in the
catalogue or measured by the benchmarks is written twice by hand (and none of it can go stale).

- `api_pages`: one API page per family, built from `jaxloss.catalog.ENTRIES` plus `API_PAGES`'s
  short list of public names that are not losses (objectives, return estimators, result types).
  Each loss gets its docstring (mkdocstrings), its PyTorch / optax equivalents from the catalogue
  and its rows and family figure from every committed benchmark run.
- `pytorch_table`, `optax_table`: the porting guide's tables, which replace the
  ``<!-- generated: ... -->`` markers of ``docs/porting.md``. The PyTorch rows are the catalogue's
  entries with a ``torch`` name; the optax rows are every public function of the installed
  ``optax.losses``.
- Committed files outside ``docs/`` that pages link to (``benchmarks/results/*``, ``examples/*``)
  are mirrored into the site under ``assets/repo/`` and the links rewritten, so that the same
  Markdown works on GitHub and in the site.

``tests/test_docs.py`` imports this module to check that every public name is documented.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import pathlib
import posixpath
import re
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # the `mkdocs` entry point does not put the working directory there
    sys.path.insert(0, str(ROOT))

from benchmarks import report  # noqa: E402
from jaxloss import catalog  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
MIRRORED = ("benchmarks/results/", "examples/")  # repository folders that pages may link into
MIRROR = "assets/repo"  # where they appear in the site
FIGURES = "assets/benchmarks"  # the per-family benchmark figures drawn at build time


@dataclasses.dataclass(frozen=True)
class ApiPage:
    slug: str
    title: str
    intro: str
    families: tuple[str, ...] = ()  # catalogue families whose losses this page shows
    lead: tuple[str, ...] = ()  # public non-loss names shown before the losses
    tail: tuple[str, ...] = ()  # ... and after them


API_PAGES = (
    ApiPage("regression", "Regression",
            "Losses between real-valued predictions and targets, from the squared error to "
            "robust and probabilistic ones. See [Choosing a loss](../choosing.md#regression) "
            "for how their gradients differ.", ("regression",)),
    ApiPage("classification", "Classification",
            "Softmax and sigmoid cross-entropies (with class weights, label smoothing, "
            "`ignore_index` and the z-loss), focal and polynomial variants, divergences between "
            "distributions and hinge losses. The class axis is last.", ("classification",)),
    ApiPage("margin", "Margin and embedding",
            "PyTorch's margin losses: hinge embeddings, multi-label and multi-class margins, "
            "ranking of pairs, cosine and triplet embedding losses.", ("margin",)),
    ApiPage("sequence", "Sequence (CTC)",
            "Connectionist temporal classification for unsegmented sequences, batch-first.",
            ("sequence",)),
    ApiPage("segmentation", "Segmentation and boxes",
            "Overlap losses for segmentation masks (Dice, Tversky, Jaccard) and IoU losses for "
            "bounding boxes in `(x1, y1, x2, y2)` form.", ("segmentation", "detection")),
    ApiPage("contrastive", "Contrastive",
            "Self-supervised and image-text losses over a batch of embeddings. CLIP and SigLIP "
            "also run sharded over devices (`axis_name=`): see "
            "[Distributed losses](../distributed.md).", ("contrastive",)),
    ApiPage("ranking", "Ranking",
            "Listwise and pairwise losses over the items of each list (the item axis last).",
            ("ranking",)),
    ApiPage("preference", "Preference tuning",
            "Losses that tune a language model on pairs of chosen and rejected responses, from "
            "their sequence log-probabilities.", ("preference",)),
    ApiPage("rl", "Reinforcement learning (jaxloss.rl)",
            "Return estimators over time-major trajectories, then the value and policy losses. "
            "The losses are also exported at the top level (`jaxloss.td_loss`). The "
            "[guide](../rl.md) explains the conventions and trains PPO on CartPole.",
            ("reinforcement",),
            lead=("jaxloss.rl.discounted_returns", "jaxloss.rl.n_step_returns",
                  "jaxloss.rl.lambda_returns", "jaxloss.rl.generalized_advantage_estimation",
                  "jaxloss.rl.vtrace", "jaxloss.rl.VTraceOutput"),
            tail=("jaxloss.rl.PPOClipLoss",)),
    ApiPage("large_vocab", "Large vocabulary",
            "The output layer of a language model and its cross-entropy in one pass, without "
            "the logits; see the [guide](../linear_cross_entropy.md).",
            tail=("jaxloss.LinearCrossEntropyStats",)),
    ApiPage("training", "Objectives and utilities",
            "What turns a model and its losses into the function that optax minimises (see "
            "[Training with optax](../training.md)), and `checked`, which range-checks a "
            "loss's integer indices (labels, actions, lengths) where `jit` cannot.",
            lead=("jaxloss.Objective", "jaxloss.Term", "jaxloss.L2", "jaxloss.L1",
                  "jaxloss.make_train_step", "jaxloss.per_example_gradients",
                  "jaxloss.checked")),
)
# Losses shown on a page other than their catalogue family's.
PAGE_OF = {"linear_cross_entropy": "large_vocab"}


def page_of(entry) -> str:
    if entry.name in PAGE_OF:
        return PAGE_OF[entry.name]
    for page in API_PAGES:
        if entry.family in page.families:
            return page.slug
    raise KeyError(f"docs: no API page shows the catalogue family {entry.family!r} "
                   f"(of {entry.name}); add it to API_PAGES in docs/scripts/hooks.py")


def qualified_name(entry) -> str:
    """The documented path: ``jaxloss.rl.td_loss`` for what lives in `jaxloss.rl`."""
    module = "jaxloss.rl" if entry.fn.__module__ == "jaxloss.rl" else "jaxloss"
    return f"{module}.{entry.name}"


def api_link(name: str, from_dir: str = "") -> str:
    """A Markdown link to a loss's API section, relative to the page folder `from_dir`."""
    entry = catalog.get(name)
    target = f"api/{page_of(entry)}.md"
    return f"[`{name}`]({posixpath.relpath(target, from_dir or '.')}#{qualified_name(entry)})"


def _optax_name(baseline_name: str | None) -> str | None:
    if not baseline_name or not baseline_name.startswith("optax."):
        return None
    return baseline_name.removeprefix("optax.").removeprefix("losses.")


# ---------------------------------------------------------------- benchmarks


def benchmark_runs() -> list[tuple[str, dict]]:
    """(file stem, payload) of every committed per-loss benchmark run, CPU first."""
    runs = []
    for path in sorted(RESULTS.glob("*.json")):
        payload = json.loads(path.read_text())
        if "cases" in payload and "environment" in payload:
            runs.append((path.stem, payload))
    return runs


@functools.cache
def _family_figures(stem: str, mtime: float) -> dict[str, bytes]:
    """``<family>-exec.png`` -> PNG: the benchmark's own plot restricted to one family."""
    payload = json.loads((RESULTS / f"{stem}.json").read_text())
    records = payload["cases"]
    import matplotlib

    figures = {}
    # One family's column is narrower than the run's title: save with the whole title.
    with tempfile.TemporaryDirectory() as tmp, matplotlib.rc_context({"savefig.bbox": "tight"}):
        for family in dict.fromkeys(r["family"] for r in records):
            mine = [r for r in records if r["family"] == family]
            for path in report.plots(pathlib.Path(tmp) / family, payload["environment"], mine):
                figures[path.name] = path.read_bytes()
    return figures


def family_figures(stem: str) -> dict[str, bytes]:
    return _family_figures(stem, (RESULTS / f"{stem}.json").stat().st_mtime)


def _describe(env: dict) -> str:
    return (f"{env['backend'].upper()}, {env['device_name']}, {env['cpu_count']} cores, "
            f"{env['dtype']}; jax {env['jax']}, optax {env['optax']}, "
            f"torch {env['torch'] or 'not installed'}")


def benchmark_section(entry, runs) -> str:
    out = []
    for stem, payload in runs:
        records = [r for r in payload["cases"] if r["loss"] == entry.name]
        if not records:
            continue
        columns = report.COLUMNS[1:]
        rows = [row[1:] for row in report.table_rows(records)]
        figure = f"../{FIGURES}/{stem}/{entry.family}-exec.png"
        results_page = f"../{MIRROR}/benchmarks/results/{stem}.md"
        out += [f"**Benchmark** ({_describe(payload['environment'])}): "
                f"[{entry.family} execution-time figure]({figure}), "
                f"[compile time]({figure.replace('-exec.png', '-compile.png')}), "
                f"[all results]({results_page}), [what the columns mean](../benchmarks.md).", "",
                "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
        out.append("")
    return "\n".join(out)


# ---------------------------------------------------------------- API pages


def equivalents_line(entry) -> str:
    torch = (f"`torch.nn.functional.{entry.torch}`" if entry.torch
             else "none in `torch.nn.functional`")
    optax = _optax_name(entry.baseline_name)
    if optax:
        prefix = "optax.losses." if optax in _optax_only_in_losses() else "optax."
        baseline = f"`{prefix}{optax}` (optax returns the unreduced loss)"
    else:
        baseline = "an independent `jax.numpy` formula"
    return (f"**Equivalents** (from the catalogue): PyTorch {torch}; baseline in the tests and "
            f"benchmarks: {baseline}. See [Porting](../porting.md).")


@functools.cache
def _optax_only_in_losses() -> frozenset[str]:
    import optax

    return frozenset(n for n in optax_loss_names() if not hasattr(optax, n))


def _block(name: str) -> str:
    return f"::: {name}\n"


def api_pages() -> dict[str, str]:
    """``api/<slug>.md`` -> Markdown, for every page of `API_PAGES`."""
    runs = benchmark_runs()
    by_page = {page.slug: [] for page in API_PAGES}
    for entry in catalog.ENTRIES:
        by_page[page_of(entry)].append(entry)
    pages = {}
    for page in API_PAGES:
        out = [f"# {page.title}", "", page.intro, ""]
        entries = by_page[page.slug]
        listed = [f"`{n.rsplit('.', 1)[1]}`" for n in page.lead]
        listed += [f"`{e.name}`" for e in entries]
        listed += [f"`{n.rsplit('.', 1)[1]}`" for n in page.tail]
        out += ["On this page: " + ", ".join(listed) + ".", ""]
        out += [_block(name) for name in page.lead]
        for entry in entries:
            out += [_block(qualified_name(entry)), equivalents_line(entry), ""]
            section = benchmark_section(entry, runs)
            if section:
                out.append(section)
        out += [_block(name) for name in page.tail]
        pages[f"api/{page.slug}.md"] = "\n".join(out) + "\n"
    return pages


def documented_names(pages: dict[str, str]) -> set[str]:
    """Every ``::: name`` of the generated pages."""
    return {m for text in pages.values() for m in re.findall(r"^::: (\S+)$", text, flags=re.M)}


# ---------------------------------------------------------------- porting tables

# What differs from torch.nn.functional beyond the differences common to every loss (the list
# of losses comes from the catalogue; tests/test_docs.py checks every key is a catalogue loss).
PYTORCH_NOTES = {
    "l1_loss": "",
    "mse_loss": "",
    "huber_loss": "`delta <= 0` is not rejected",
    "smooth_l1_loss": "",
    "poisson_nll_loss": "",
    "gaussian_nll_loss": "negative variances are clamped to `eps`, not rejected",
    "kl_div": "",
    "cross_entropy": "class axis last for `(N, C, d1, ...)` inputs; `z_loss=` (PaLM) added; an "
                     "out-of-range label gives NaN instead of an assertion",
    "nll_loss": "class axis last for `(N, C, d1, ...)` inputs; an out-of-range label gives NaN",
    "binary_cross_entropy": "inputs outside [0, 1] give NaN instead of an error; the target "
                            "gradient is finite at 0 and 1",
    "binary_cross_entropy_with_logits": "",
    "hinge_embedding_loss": "",
    "soft_margin_loss": "finite for every finite input (PyTorch overflows to inf)",
    "multilabel_soft_margin_loss": "",
    "multilabel_margin_loss": "an invalid label gives NaN, and so does a NaN score (PyTorch "
                              "skips its terms)",
    "multi_margin_loss": "an out-of-range label gives NaN, and so does a NaN score (PyTorch "
                         "skips its terms)",
    "margin_ranking_loss": "",
    "cosine_embedding_loss": "",
    "triplet_margin_loss": "a traced `p <= 0` gives NaN and a traced `margin <= 0` is not "
                           "rejected (Python values raise, as in PyTorch)",
    "triplet_margin_with_distance_loss": "a traced `margin <= 0` is not rejected; "
                                         "`distance_function` must be a JAX function",
    "linear_cross_entropy": "blocked (no logits), vocabulary-sharded with `axis_name=`; adds "
                            "`z_loss=`, `logit_softcap=`, `return_stats=`; no class weights",
    "ctc_loss": "batch-first `log_probs` `(N, T, C)` (PyTorch: `(T, N, C)`); padded targets "
                "`(N, S)` or PyTorch's concatenated form",
}

# optax.losses function -> (the jaxloss call that computes it, what differs). Functions not
# listed here are matched by the catalogue's baselines, or shown as having no equivalent.
OPTAX_NOTES = {
    "binary_dice_loss": ("dice_loss(x.reshape(n, -1, 1), y.reshape(n, -1, 1), "
                         "activation=\"sigmoid\", axis=(-2,), smooth=2 * s)",
                         "one Dice over all of an example's entries; smoothing as for "
                         "`dice_loss`"),
    "convex_kl_divergence": ("", ""),
    "cosine_distance": ("cosine_embedding_loss(x, y, ones)", "1 − cosine similarity; PyTorch's "
                        "epsilon"),
    "cosine_similarity": ("1 - cosine_embedding_loss(x, y, ones)", ""),
    "ctc_loss": ("ctc_loss", "log-probabilities and lengths instead of logits and paddings; "
                 "`\"mean\"` divides by target lengths (PyTorch)"),
    "ctc_loss_with_forward_probs": ("", ""),
    "dice_loss": ("dice_loss(x, y, activation=\"softmax\", smooth=2 * s)",
                  "optax's `smooth=s` adds s to the intersection, jaxloss's adds it to twice the "
                  "intersection; optax averages the classes per example, jaxloss's `\"mean\"` "
                  "the examples and classes; `alpha`, `beta`: `tversky_loss` (same `smooth`)"),
    "generalized_kl_divergence": ("", ""),
    "hinge_loss": ("hinge_loss", ""),
    "huber_loss": ("huber_loss", ""),
    "kl_divergence": ("kl_div(log_p, q, reduction=\"none\").sum(-1)",
                      "jaxloss is elementwise, as PyTorch"),
    "kl_divergence_with_log_targets": ("kl_div(..., log_target=True)", "elementwise"),
    "l2_loss": ("0.5 * mse_loss(x, y, reduction=\"none\")", ""),
    "log_cosh": ("log_cosh_loss", ""),
    "make_fenchel_young_loss": ("", ""),
    "multiclass_generalized_dice_loss": ("", "`dice_loss(weight=)` takes fixed class "
                                         "weights, not the batch's inverse squared volumes"),
    "multiclass_hinge_loss": ("multiclass_hinge_loss", ""),
    "multiclass_perceptron_loss": ("", ""),
    "multiclass_sparsemax_loss": ("", ""),
    "ntxent": ("info_nce_loss", "`reduction=`, `where=` and a leading batch of problems"),
    "perceptron_loss": ("", ""),
    "poly_loss_cross_entropy": ("poly1_cross_entropy", "integer labels"),
    "ranking_softmax_loss": ("ranking_softmax_loss", ""),
    "safe_softmax_cross_entropy": ("cross_entropy(logits, probabilities)",
                                   "finite for `-inf` logits with zero target probability"),
    "sigmoid_binary_cross_entropy": ("binary_cross_entropy_with_logits", "`pos_weight=`"),
    "sigmoid_focal_loss": ("sigmoid_focal_loss", ""),
    "smooth_labels": ("cross_entropy(..., label_smoothing=ε)", "not a loss: a label transform"),
    "softmax_cross_entropy": ("cross_entropy(logits, probabilities)",
                              "class weights, `label_smoothing=`"),
    "softmax_cross_entropy_with_integer_labels": ("cross_entropy",
                                                  "`ignore_index=`, class weights, smoothing"),
    "sparsemax_loss": ("sparsemax_loss", ""),
    "squared_error": ("mse_loss", ""),
    "triplet_margin_loss": ("triplet_margin_loss", "PyTorch's epsilon (added to the "
                            "difference, not under the root)"),
}


@functools.cache
def optax_loss_names() -> tuple[str, ...]:
    """The public functions of the installed ``optax.losses``."""
    import optax.losses

    return tuple(n for n in dir(optax.losses)
                 if not n.startswith("_") and callable(getattr(optax.losses, n)))


def pytorch_table(from_dir: str = "") -> str:
    rows = ["| `torch.nn.functional` | jaxloss | differences beyond those of every loss |",
            "|---|---|---|"]
    for entry in catalog.ENTRIES:
        if entry.torch:
            note = PYTORCH_NOTES.get(entry.name, "")
            rows.append(f"| `{entry.torch}` | {api_link(entry.name, from_dir)} | {note or '—'} |")
    return "\n".join(rows)


def _jaxloss_call(text: str, from_dir: str) -> str:
    """Link the jaxloss name that starts a call such as ``kl_div(..., log_target=True)``."""
    name = re.match(r"(?:[\d.]+ \* |1 - )?([a-z_0-9]+)", text)
    if name and name.group(1) in catalog.names():
        entry = catalog.get(name.group(1))
        target = posixpath.relpath(f"api/{page_of(entry)}.md", from_dir or ".")
        return f"[`{text}`]({target}#{qualified_name(entry)})"
    return f"`{text}`"


def optax_table(from_dir: str = "") -> str:
    baselines = {}
    for entry in catalog.ENTRIES:
        optax_name = _optax_name(entry.baseline_name)
        if optax_name:
            baselines.setdefault(optax_name, []).append(entry.name)
    rows = ["| `optax.losses` | jaxloss | notes (besides jaxloss reducing) |", "|---|---|---|"]
    for name in optax_loss_names():
        call, note = OPTAX_NOTES.get(name, ("", ""))
        if not call and name in baselines:
            call = baselines[name][0]
        also = [n for n in baselines.get(name, []) if not call.startswith(n)]
        if also:
            note = (note + "; " if note else "") + "also the test baseline of " + ", ".join(
                _jaxloss_call(n, from_dir) for n in also)
        shown = _jaxloss_call(call, from_dir) if call else "— (not in jaxloss)"
        rows.append(f"| `{name}` | {shown} | {note or '—'} |")
    return "\n".join(rows)


GENERATED = {
    "<!-- generated: pytorch-table -->": pytorch_table,
    "<!-- generated: optax-table -->": optax_table,
}


# ---------------------------------------------------------------- links into the repository


def _mirror_target(page_uri: str, target: str) -> str | None:
    """The site path of a link that leaves ``docs/`` for a mirrored repository file."""
    if re.match(r"^[a-z]+:", target) or target.startswith(("#", "/")):
        return None
    path, _, anchor = target.partition("#")
    repo_path = posixpath.normpath(posixpath.join("docs", posixpath.dirname(page_uri), path))
    if not repo_path.startswith(MIRRORED) or not (ROOT / repo_path).is_file():
        return None
    site_path = f"{MIRROR}/{repo_path}"
    if repo_path.endswith(".py"):
        site_path += ".md"  # shown as a page with the highlighted source
    new = posixpath.relpath(site_path, posixpath.dirname(page_uri) or ".")
    return new + (f"#{anchor}" if anchor else "")


def rewrite_links(markdown: str, page_uri: str) -> str:
    def replace(match):
        new = _mirror_target(page_uri, match.group(2))
        return match.group(0) if new is None else f"{match.group(1)}{new})"

    return re.sub(r"(\]\()([^)\s]+)\)", replace, markdown)


def mirrored_files() -> dict[str, bytes | str]:
    """Site path -> content of every mirrored repository file."""
    out = {}
    for folder in MIRRORED:
        for path in sorted((ROOT / folder).rglob("*")):  # subfolders too (side runs)
            if not path.is_file() or "__pycache__" in path.parts:
                continue
            rel = path.relative_to(ROOT).as_posix()
            if path.suffix == ".py":
                out[f"{MIRROR}/{rel}.md"] = (f"# `{rel}`\n\n```python\n{path.read_text()}```\n")
            elif path.suffix == ".md":
                out[f"{MIRROR}/{rel}"] = path.read_text()
            else:
                out[f"{MIRROR}/{rel}"] = path.read_bytes()
    return out


# ---------------------------------------------------------------- mkdocs events


def on_files(files, config):
    from mkdocs.structure.files import File

    generated = dict(api_pages())
    generated.update(mirrored_files())
    for stem, _ in benchmark_runs():
        for name, png in family_figures(stem).items():
            generated[f"{FIGURES}/{stem}/{name}"] = png
    for uri, content in generated.items():
        files.append(File.generated(config, uri, content=content))
    return files


def on_page_markdown(markdown, page, config, files):
    uri = page.file.src_uri
    for marker, make in GENERATED.items():
        if marker in markdown:
            markdown = markdown.replace(marker, make(posixpath.dirname(uri)))
    return rewrite_links(markdown, uri)
