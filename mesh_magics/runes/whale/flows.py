"""Q5's last step: the ``top`` largest flows, exact, from grouped parts held by the workers.

Each part is a frame of flows (``rune_id, sender, receiver``, amount limbs, ``n``) summed
over some of the input; a flow may be in several parts, and its amount is the sum of its
partials. Small inputs are summed in one task (:func:`final`). Large ones never move:
on many runes a uniform input had ~1.5M per-partition groups of whale rows, and summing them in one task
took 0.8-1.6 s of Q5's 1.5-3 s. :func:`top_flows` finds the best ``top`` with the
three-round threshold algorithm of Cao and Wang ("Efficient top-K query calculation in
distributed networks", PODC 2004, "TPUT"), which needs only that amounts are not negative:

1. every part's ``top`` largest partials; summed over the parts that reported them they are
   lower bounds of the flows' amounts, and the ``top``-th largest lower bound, tau, is at most
   the ``top``-th largest amount;
2. a flow whose amount reaches tau has a partial of at least tau / m in one of the m parts:
   every part names its flows at or above that cut, the candidates;
3. every part's partials of the candidates: their exact amounts, of which the best ``top``.

The cut is compared in float64 with a margin (a limb vector's float is within ~1e-15 of
it, the margin 1e-9), so the candidates are a superset; the final choice is exact, on the
limbs. Where a partial is negative, or fewer than ``top`` flows are seen, every flow is a
candidate and the parts are summed whole. The rounds are chained tasks on the cluster: one
round trip from the client.
"""

from __future__ import annotations

import math
from typing import Any

from . import exact as ex
from .frames import flow_order, frame_lib

__all__ = ["KEYS", "final", "top_flows", "top_rows"]

KEYS = ["rune_id", "sender", "receiver"]
_MARGIN = 1e-9


def top_rows(part: Any, top: int, k: int) -> Any:
    """The ``top`` flows of one summed frame in Q5's order. Only the rows whose amount can be
    among the ``top`` largest are sorted (a sort of millions of rows on three strings took
    seconds): every row within the margin of the ``top``-th largest float is kept, ties
    included, and the exact sort of the limbs decides among them."""
    cols = ex.limb_names(k)
    part = ex.normalize(part.copy(), cols)
    if len(part) > 4 * top:
        approx = ex.to_float(part, cols)
        nth = float(approx.nlargest(top).min())
        part = part[approx >= nth - abs(nth) * _MARGIN]
    by, ascending = flow_order(k)
    return part.sort_values(by, ascending=ascending).head(top)


def _sum(parts: list[Any]) -> Any:
    rows = frame_lib(parts[0]).concat(parts, ignore_index=True)
    return rows.groupby(KEYS, sort=False, dropna=False).sum().reset_index()


def final(parts: list[Any], top: int, k: int) -> Any:
    """Every part summed, the ``top`` best kept (one task: for few rows)."""
    return top_rows(_sum(parts), top, k)


# --------------------------------------------------------------------------- the three rounds


def _best(part: Any, top: int, k: int) -> tuple[Any, bool]:
    """Round 1 on one part: its ``top`` largest partials, and whether any partial is negative."""
    approx = ex.to_float(part, ex.limb_names(k)).reset_index(drop=True)
    return part.iloc[approx.nlargest(top).index], bool((approx < 0).any())


def _cut(top: int, k: int, *bests: tuple[Any, bool]) -> float:
    """tau / m less the margin; -inf where every flow has to be a candidate."""
    if any(negative for _, negative in bests):
        return -math.inf
    bounds = _sum([b for b, _ in bests])
    if len(bounds) < top:
        return -math.inf
    tau = float(ex.to_float(bounds, ex.limb_names(k)).nlargest(top).min())
    return tau * (1 - _MARGIN) / len(bests) if tau > 0 else -math.inf


def _above(part: Any, cut: float, k: int) -> Any:
    """Round 2 on one part: the keys of its partials at or above the cut (none at -inf:
    every flow is then a candidate and no list is needed)."""
    if cut == -math.inf:
        return part.iloc[:0][KEYS]
    return part.loc[ex.to_float(part, ex.limb_names(k)) >= cut, KEYS]


def _candidates(cut: float, *above: Any) -> Any:
    if cut == -math.inf:
        return None
    return frame_lib(above[0]).concat(above, ignore_index=True).drop_duplicates()


def _partials(part: Any, candidates: Any) -> Any:
    """Round 3 on one part: its partials of the candidates (null keys match, as in the sums).
    The rows are first cut to the candidates' senders (a merge on three strings hashed all
    ~750k rows of a part: 0.27 s; the membership test 14 ms), then merged exactly."""
    if candidates is None:
        return part
    senders = candidates["sender"]
    near = part["sender"].isin(senders.dropna().unique())
    if senders.isna().any():
        near = near | part["sender"].isna()
    return part[near].merge(candidates, on=KEYS, how="inner")


def top_flows(client: Any, parts: list[Any], top: int, k: int) -> Any:
    """The ``top`` flows of the summed ``parts`` (futures of pandas frames, each holding a flow
    at most once), as a future; no part leaves its worker but its candidates."""
    bests = [client.submit(_best, p, top, k, pure=False) for p in parts]
    cut = client.submit(_cut, top, k, *bests, pure=False)
    above = [client.submit(_above, p, cut, k, pure=False) for p in parts]
    candidates = client.submit(_candidates, cut, *above, pure=False)
    found = [client.submit(_partials, p, candidates, pure=False) for p in parts]
    return client.submit(final, found, top, k, pure=False)
