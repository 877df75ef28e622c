"""Input guards on what a question is about: off-topic, blocked topics, political and personal
opinion bait, competitor baiting.

Topics are matched by MiniLM embedding similarity (:class:`~citeline.ingest.embed.OnnxMiniLMEmbedder`)
of the question to each topic's description and example questions; the best match's cosine is
the score. Politics and competitors add word rules, because a one-line bait ("Nest or Fernhill?")
is short and an embedding alone misses it.
"""

from __future__ import annotations

import re
import threading
import time

import numpy as np

from citeline.contracts import GuardVerdict, Principal
from citeline.guard.policy import GuardPolicy

#: opinion bait used when ``politics.allow_opinions`` is false (a built-in blocked topic)
POLITICS_EXAMPLES = [
    "Who should I vote for in the next election?",
    "What do you think about the president?",
    "Which political party is right?",
    "Is capitalism better than socialism?",
    "What is your opinion on abortion?",
    "Do you support gun control?",
    "Are conservatives or liberals better for the economy?",
    "What do you think of the government's immigration policy?",
    "Is the war justified?",
    "Should the death penalty be abolished?",
    "Do you believe in God?",
    "Which religion is the true one?",
    "What is your personal opinion on climate activists?",
    "Was Brexit a mistake?",
    "Who is the worst world leader today?",
]
_POLITICAL = re.compile(
    r"\b(?:vot(?:e|es|ed|ing)|voters?|elections?|elect(?:ed)?|president(?:ial)?|prime minister|parliament|congress|"
    r"senat(?:e|or)s?|democrats?|democratic party|republicans?|gop|labour|tor(?:y|ies)|conservatives?|liberals?|"
    r"left-wing|right-wing|leftists?|socialis[mt]s?|communis[mt]s?|capitalism|fascis[mt]s?|politic(?:s|al|ians?)|"
    r"party|parties|abortion|gun control|immigration|immigrants?|refugees?|death penalty|brexit|trump|biden|"
    r"harris|obama|putin|zelensky|netanyahu|xi jinping|modi|macron|israel|palestin(?:e|ian)s?|gaza|ukraine|"
    r"russia|taiwan|religion|religious|god|allah|jesus|church|islam|christianity|atheis[mt]|feminis[mt]|woke|"
    r"lgbtq?|transgender|climate activists?|war|genocide)\b", re.I)
_OPINION = re.compile(
    r"\b(?:you|your)\b.{0,30}\b(?:think|opinion|view|feel|believe|stance|position|take|prefer|support|like|hate|"
    r"favou?rite|side)\b|\b(?:who|which|what)\b.{0,40}\b(?:should|better|best|worse|worst|right|wrong|good|bad|"
    r"evil|true|justified|mistake|deserve)\b|\b(?:is|are|was|were)\b.{0,60}\b(?:better|worse|right|wrong|good|"
    r"bad|evil|justified|a mistake|true)\b|\bshould\b.{0,60}\b(?:be (?:banned|abolished|allowed|legal|illegal)|"
    r"vote|win|lose)\b|\b(?:pro|anti)-\w+|\bbetter for\b", re.I | re.S)
_GREETING = re.compile(r"^\W*(?:hi|hello|hey|thanks|thank you|good (?:morning|afternoon|evening)|bye|ok|okay|"
                       r"yes|no|cheers)\W*(?:\w+\W*)?$", re.I)
_COMPARE = re.compile(r"\b(?:better|best|worse|worst|vs\.?|versus|compare[ds]?|comparison|compared|instead|switch|"
                      r"recommend|alternative|prefer|rather|cheaper|superior|beats?|or|than|over|should i|"
                      r"which (?:one|is|brand)|good as|as good|replace|migrate|move to)\b", re.I)


def competitor_pattern(policy: GuardPolicy) -> re.Pattern | None:
    names = sorted({n for c in policy.competitors.names for n in c.names()}, key=len, reverse=True)
    if not names:
        return None
    return re.compile(r"(?<![\w-])(?:" + "|".join(re.escape(n) for n in names) + r")(?![\w-])", re.I)


class _TopicIndex:
    """Embedded topic texts, built once per guard on first use."""

    def __init__(self, embedder, topics: list[tuple[str, list[str]]]):
        self.embedder = embedder
        self.topics = topics
        self._vecs: np.ndarray | None = None
        self._owner: np.ndarray | None = None
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        if self._vecs is not None or not self.topics:
            return
        with self._lock:
            if self._vecs is None:
                texts = [t for _, ts in self.topics for t in ts]
                owner = [i for i, (_, ts) in enumerate(self.topics) for _ in ts]
                self._owner = np.array(owner)
                self._vecs = self.embedder.embed(texts)

    def best(self, qvec: np.ndarray) -> tuple[float, str | None]:
        if not self.topics:
            return -1.0, None
        self.warm_up()
        sims = self._vecs @ qvec
        i = int(np.argmax(sims))
        return float(sims[i]), self.topics[int(self._owner[i])][0]


class TopicGuard:
    """Blocks questions that match no allowed topic (when the policy lists any), that match a
    blocked topic better than every allowed one, or that bait a political or personal opinion."""

    name = "topic"
    stage = "input"

    def __init__(self, policy: GuardPolicy, embedder):
        self.policy = policy
        self.embedder = embedder
        self.allowed = _TopicIndex(embedder, [(t.name, t.texts()) for t in policy.allowed_topics])
        blocked = [(t.name, t.texts()) for t in policy.blocked_topics]
        if not policy.politics.allow_opinions:
            blocked.append(("politics", POLITICS_EXAMPLES))
        self.blocked = _TopicIndex(embedder, blocked)
        words = sorted({k for k in policy.topic.keywords if k.strip()}, key=len, reverse=True)
        self.keywords = re.compile(r"(?<![\w-])(?:" + "|".join(re.escape(k) for k in words) + r")(?![\w-])", re.I) \
            if words else None

    def warm_up(self) -> None:
        self.allowed.warm_up()
        self.blocked.warm_up()

    def _v(self, verdict, score, threshold, rule, mode, t0, detail=None, guard=None) -> GuardVerdict:
        return GuardVerdict(guard=guard or self.name, verdict=verdict, score=score, threshold=threshold, rule=rule,
                            mode=mode, stage="input", detail=detail, latency_ms=(time.perf_counter() - t0) * 1000)

    def check(self, text: str, *, principal: Principal | None = None) -> GuardVerdict:
        t0 = time.perf_counter()
        p = self.policy
        mode = "shadow" if p.topic.mode == "shadow" else "enforce"
        text = " ".join(text.split())[:2000]
        if not text or _GREETING.match(text):
            return self._v("allow", 0.0, None, None, mode, t0, "greeting or empty")
        qvec = self.embedder.embed([text])[0]
        best_ok, ok_topic = self.allowed.best(qvec)
        best_bad, bad_topic = self.blocked.best(qvec)
        if best_bad >= p.topic.blocked_threshold and best_bad >= best_ok + p.topic.blocked_margin:
            rule = "politics" if bad_topic == "politics" else f"blocked-topic:{bad_topic}"
            return self._v("block", best_bad, p.topic.blocked_threshold, rule, mode, t0,
                           f"closest blocked topic {bad_topic!r} ({best_bad:.2f}) vs allowed {ok_topic!r} "
                           f"({best_ok:.2f})")
        keyword = self.keywords.search(text) if self.keywords else None
        if p.allowed_topics and best_ok < p.topic.threshold and keyword is None:
            return self._v("block", best_ok, p.topic.threshold, "off-topic", mode, t0,
                           f"closest allowed topic {ok_topic!r} at {best_ok:.2f}")
        rule = f"topic:{ok_topic}" if ok_topic else None
        if keyword is not None and best_ok < p.topic.threshold:
            rule = f"keyword:{keyword.group(0)}"
        if not p.allowed_topics:  # no topic limit: the score is the closeness to a blocked topic
            return self._v("allow", max(best_bad, 0.0), p.topic.blocked_threshold, None, mode, t0)
        return self._v("allow", best_ok, p.topic.threshold, rule, mode, t0)


class PoliticsGuard:
    """Word rules for political, religious and personal-opinion bait (the topic guard adds the
    embedding match)."""

    name = "politics"
    stage = "input"

    def __init__(self, policy: GuardPolicy):
        self.policy = policy

    def check(self, text: str, *, principal: Principal | None = None) -> GuardVerdict:
        t0 = time.perf_counter()
        p = self.policy.politics
        mode = "shadow" if p.mode == "shadow" else "enforce"
        hit = _POLITICAL.search(text)
        if not p.allow_opinions and hit and _OPINION.search(text):
            return GuardVerdict(guard=self.name, verdict="block", score=1.0, rule="politics:opinion-bait", mode=mode,
                                stage="input", detail=f"political or religious subject {hit.group(0)!r} with an "
                                                      "opinion cue", latency_ms=(time.perf_counter() - t0) * 1000)
        return GuardVerdict(guard=self.name, verdict="allow", mode=mode, stage="input",
                            latency_ms=(time.perf_counter() - t0) * 1000)


class CompetitorGuard:
    """A question that names a competitor is flagged; one that asks to compare with or recommend
    a competitor is blocked."""

    name = "competitor"
    stage = "input"

    def __init__(self, policy: GuardPolicy):
        self.policy = policy
        self.pattern = competitor_pattern(policy)

    def check(self, text: str, *, principal: Principal | None = None) -> GuardVerdict:
        t0 = time.perf_counter()
        mode = "shadow" if self.policy.competitors.mode == "shadow" else "enforce"
        m = self.pattern.search(text) if self.pattern else None
        if m is None:
            return GuardVerdict(guard=self.name, verdict="allow", mode=mode, stage="input",
                                latency_ms=(time.perf_counter() - t0) * 1000)
        if _COMPARE.search(text):
            return GuardVerdict(guard=self.name, verdict="block", score=1.0, rule="competitor:compare", mode=mode,
                                stage="input", detail=f"asks to compare with or recommend {m.group(0)!r}",
                                latency_ms=(time.perf_counter() - t0) * 1000)
        return GuardVerdict(guard=self.name, verdict="flag", score=0.5, rule="competitor:mention", mode=mode,
                            stage="input", detail=f"mentions {m.group(0)!r}",
                            latency_ms=(time.perf_counter() - t0) * 1000)
