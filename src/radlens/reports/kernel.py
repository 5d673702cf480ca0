"""The labeler's hot path: scan, sentences, status, locations and the per-report merge.

Written in Cython's "pure Python mode": ``pip install -e .`` compiles this very file into the
extension ``radlens.reports.kernel_c`` (see setup.py); `radlens.reports.accel` uses it when it
was built from the current source and falls back to this module, run as plain Python, otherwise.
The type annotations and decorators are C types only when compiled; ``if cython.compiled`` marks
the few places where the compiled and the interpreted code differ in *how* (a C loop over
characters versus ``str.find`` / pyahocorasick), never in *what* they compute
(tests/test_reports_kernel.py checks both give identical rows).

Matching: the text's words (character classes hashed) are looked up in the vocabulary's words,
and the phrases in a word trie; from each word the longest key is taken and the scan resumes
after it -- the leftmost-longest non-overlapping matches that `radlens.reports.matcher.scan`
finds with Aho-Corasick. Hits are int arrays (start, end, key id); per-key metadata (mask bits,
cue categories per direction, terminator counts, term and location items) are int arrays indexed
by key id.

Decisions: abnormalities and locations are ints (`Tables`: allowed locations, refinements and side
locations as int tables); each sentence's clauses, term statuses, cue spans, location lists and
rows go to int buffers of a `Work` that is reused report after report, and the report's rows are
merged by (abnormality, location) in int tables too. Python objects are built only for the
output rows (`report_rows`: the merged rows; `sentence_rows`: a sentence's rows for the cache).
"""

from __future__ import annotations

from array import array
from itertools import pairwise

try:
    import cython
except ImportError:  # not compiled and Cython not installed: run as plain Python
    from radlens.reports import cyshim as cython

from radlens.reports.matcher import (
    ABN,
    ANCHOR,
    CUE,
    LOC,
    M_CUE_B,
    M_CUE_F,
    M_LOC,
    M_NEG,
    M_STOP,
    M_TERM,
    SIDE,
    SIDED,
    normalize,
    scan,
)
from radlens.reports.sections import ABBREV_SET, BOUND, LEAD, NON_REPORTING, find_sections

#: An anchor ("heart size") takes a normal / abnormal cue at most this many words away.
ANCHOR_WORDS = 6
#: A bare side word ("right-sided", "both lungs") reaches a term at most this many words away.
SIDE_WORDS = 7
_ANCHOR_W = cython.declare(cython.Py_ssize_t, ANCHOR_WORDS)
_SIDE_W = cython.declare(cython.Py_ssize_t, SIDE_WORDS)
_JOINERS = frozenset({"", ",", "and", ", and", "or", ", or", "/", "-", "and/or", "+", "&"})
# a differential ("A versus B", "A, less likely B"): the terms are listed together (they share a
# location) and a cue before one of them is that term's own ("less likely" is not A's)
_DIFF_JOINERS = frozenset({"versus", "vs", "vs.", "or less likely", "less likely", "more likely"})
_LIST_JOINERS = _JOINERS | _DIFF_JOINERS | frozenset({"or likely", "likely"})
#: cues that join two terms of a differential: they act on both sides, never on one term only
_DIFF_CUES = frozenset({"versus", "vs", "vs."})
_PREMOD_WORDS = cython.declare(cython.Py_ssize_t, 5)
_MAX_ABBREV = cython.declare(cython.Py_ssize_t, max(len(a) for a in ABBREV_SET))


def _packed(word: str) -> int:
    """A lower-case ASCII word as an int, 5 bits a letter, the last letter lowest."""
    return sum((ord(ch) - 96) << (5 * i) for i, ch in enumerate(reversed(word)))


#: the abbreviations made of letters only, packed (compiled sentence splitting)
_ABBREV_KEYS = frozenset(_packed(a) for a in ABBREV_SET if a.isalpha())

# mask bits and cue category bits as C constants
_TERM = cython.declare(cython.int, M_TERM)
_CUE_F = cython.declare(cython.int, M_CUE_F)
_CUE_B = cython.declare(cython.int, M_CUE_B)
_STOP = cython.declare(cython.int, M_STOP)
_LOCB = cython.declare(cython.int, M_LOC)
_NEG = cython.declare(cython.int, M_NEG)
C_NEG = cython.declare(cython.int, 1)
C_UNC = cython.declare(cython.int, 2)
C_OTHER = cython.declare(cython.int, 4)
A_NORMAL = cython.declare(cython.int, 1)
A_ABNORMAL = cython.declare(cython.int, 2)
_CATS = {"negation": 1, "uncertainty": 2}
#: side codes of location items: none, right, left, both
_SIDE_CODE = {None: 0, "right": 1, "left": 2, "both": 3}


def _ints(n: int, fill: int = 0) -> array:
    return array("i", [fill]) * n


_ZERO = array("i", [0])


@cython.cfunc
@cython.inline
def _zeros(n: cython.Py_ssize_t) -> array:
    """_ints(n), without building the one-element template each time."""
    return _ZERO * n


_FNV_START = cython.declare(cython.ulonglong, 14695981039346656037)
_FNV_PRIME = cython.declare(cython.ulonglong, 1099511628211)
_GOLDEN = cython.declare(cython.ulonglong, 11400714819323198485)
_MASK64 = (1 << 64) - 1


def _fnv(codes: list) -> int:
    """FNV-1a over character classes (the build-time twin of the hashing in `_words`)."""
    h = 14695981039346656037
    for c in codes:
        h = ((h ^ c) * 1099511628211) & _MASK64
    return h


def _mix(key: int, bits: int) -> int:
    """Slot of a transition key (the build-time twin of `_trans`)."""
    return ((key * 11400714819323198485) & _MASK64) >> (64 - bits)


@cython.cclass
class Tables:
    """A compiled vocabulary as flat tables: the key trie and per-key metadata."""

    ascii_cls: cython.int[::1]
    other_cls: dict
    other_memo: dict
    word_hash: cython.ulonglong[::1]
    word_slot: cython.int[::1]
    word_off: cython.int[::1]
    word_chars: cython.int[::1]
    word_bits: cython.int
    trans_key: cython.longlong[::1]
    trans_node: cython.int[::1]
    root_node: cython.int[::1]
    trans_bits: cython.int
    n_words: cython.longlong
    term: cython.int[::1]
    kmask: cython.int[::1]
    kcue_f: cython.int[::1]
    kcue_b: cython.int[::1]
    kanc_f: cython.int[::1]
    kanc_b: cython.int[::1]
    kstop_f: cython.int[::1]
    kstop_b: cython.int[::1]
    qkey: cython.int
    scope: cython.int
    compiled: object
    # abnormalities and locations as ints (names only for the output rows)
    abn_names: list
    loc_names: list
    n_abn: cython.Py_ssize_t
    n_loc: cython.Py_ssize_t
    loc_words: cython.Py_ssize_t
    kt_off: cython.int[::1]
    kt_abn: cython.int[::1]
    kt_anc: cython.int[::1]
    kl_off: cython.int[::1]
    kl: cython.int[::1]
    allow: cython.int[::1]
    refine: cython.int[::1]
    side_loc: cython.int[::1]
    requires: cython.int[::1]
    strict: cython.int[::1]
    default: cython.int[::1]
    max_terms: cython.Py_ssize_t
    max_locs: cython.Py_ssize_t
    pool: list

    def __init__(self, compiled) -> None:
        keys, items = compiled.keys, compiled.items
        self.compiled = compiled
        self.scope = compiled.max_scope_words
        self.pool = []
        # character classes: 0 = word boundary (space), 1.. = characters used by keys,
        # -1 = any other word character (no key goes through it)
        chars = sorted({ch for key in keys for ch in key if ch != " "})
        cls = {ch: i + 1 for i, ch in enumerate(chars)}
        ascii_cls = _ints(128)
        for c in range(128):
            ch = normalize(chr(c))
            ascii_cls[c] = 0 if ch == " " else cls.get(ch, -1)
        self.ascii_cls = ascii_cls
        self.other_cls = {ch: i for ch, i in cls.items() if ord(ch) >= 128}
        self.other_memo = {}
        # vocabulary words (keys split at spaces) in an open-addressing hash table keyed by the
        # FNV-1a hash of their character classes; phrases in a word trie whose transitions
        # (node, word) -> node live in a second hash table. Both stay small (cache resident).
        words: dict = {}
        for key in keys:
            for w in key.split(" "):
                words.setdefault(w, len(words))
        bits = max(4, (2 * len(words)).bit_length())
        word_hash, word_slot = array("Q", [0]) * (1 << bits), _ints(1 << bits, -1)
        word_off, word_chars = [0], []
        for w, wid in words.items():
            codes = [cls[ch] for ch in w]
            word_chars += codes
            word_off.append(len(word_chars))
            slot = _fnv(codes) & ((1 << bits) - 1)
            while word_slot[slot] >= 0:
                slot = (slot + 1) & ((1 << bits) - 1)
            word_hash[slot], word_slot[slot] = _fnv(codes), wid
        self.word_hash, self.word_slot, self.word_bits = word_hash, word_slot, bits
        self.word_off, self.word_chars = array("i", word_off), array("i", word_chars or [0])
        self.n_words = len(words)
        trans: dict = {}
        term = [-1]
        for kid, key in enumerate(keys):
            node = 0
            for w in key.split(" "):
                nxt = trans.get(node * len(words) + words[w])
                if nxt is None:
                    nxt = trans[node * len(words) + words[w]] = len(term)
                    term.append(-1)
                node = nxt
            term[node] = kid
        bits = max(4, (2 * len(trans)).bit_length())
        trans_key, trans_node = array("q", [-1]) * (1 << bits), _ints(1 << bits)
        for tkey, node in trans.items():
            slot = _mix(tkey, bits)
            while trans_key[slot] >= 0:
                slot = (slot + 1) & ((1 << bits) - 1)
            trans_key[slot], trans_node[slot] = tkey, node
        self.trans_key, self.trans_node, self.trans_bits = trans_key, trans_node, bits
        # transitions from the root (every word start tries one) in a direct table by word id
        root_node = _ints(len(words) + 1, -1)
        for tkey, node in trans.items():
            if tkey < len(words):
                root_node[tkey] = node
        self.root_node = root_node
        self.term = array("i", term)
        # per key metadata; one extra key (id len(keys)) is the "?" after a term (uncertainty)
        q_items = ((CUE, "uncertainty", "backward"),)
        all_items = [*items, q_items]
        self.qkey = len(keys)
        n = len(all_items)
        kmask, kcue_f, kcue_b = _ints(n), _ints(n), _ints(n)
        kanc_f, kanc_b, kstop_f, kstop_b = _ints(n), _ints(n), _ints(n), _ints(n)
        for kid, its in enumerate(all_items):
            kmask[kid] = compiled.masks[kid] if kid < len(keys) else M_CUE_B
            for kind, a, b in its:
                if kind != CUE:
                    continue
                if a == "terminate":
                    kstop_f[kid] += 1
                    if b != "forward":
                        kstop_b[kid] += 1
                    continue
                anchor = A_NORMAL if a == "normal" else A_ABNORMAL if a == "abnormal" else 0
                bit = _CATS.get(a, C_OTHER)
                if b in ("forward", "bidirectional"):
                    if anchor:
                        kanc_f[kid] = kanc_f[kid] or anchor
                    else:
                        kcue_f[kid] |= bit
                if b in ("backward", "bidirectional"):
                    if anchor:
                        kanc_b[kid] = kanc_b[kid] or anchor
                    else:
                        kcue_b[kid] |= bit
        self.kmask, self.kcue_f, self.kcue_b = kmask, kcue_f, kcue_b
        self.kanc_f, self.kanc_b, self.kstop_f, self.kstop_b = kanc_f, kanc_b, kstop_f, kstop_b
        _id_tables(self, compiled.vocab, all_items)


def _location_names(vocab) -> list:
    """Every location id the vocabulary can produce, in a fixed order."""
    names: dict = dict.fromkeys(vocab.locations)
    for st in vocab.sided_terms:
        names.update(dict.fromkeys((st.right, st.left)))
    for a in vocab.abnormalities.values():
        names.update(dict.fromkeys((*a.locations, *a.sides.values(), *(a.refine or {}))))
        if a.default_location is not None:
            names[a.default_location] = None
    return list(names)


def _id_tables(T: Tables, vocab, all_items: list) -> None:
    """Abnormalities and locations as ints: per-key term and location items, allowed locations,
    refinements, side locations and location rules per abnormality."""
    abns = list(vocab.abnormalities)
    aid = {a: i for i, a in enumerate(abns)}
    locs = _location_names(vocab)
    lid = {loc: i for i, loc in enumerate(locs)}
    n_abn, n_loc = len(abns), len(locs)
    T.abn_names, T.loc_names, T.n_abn, T.n_loc = abns, locs, n_abn, n_loc
    T.loc_words = (n_loc + 15) >> 4  # ints per term for a bit per location
    allow, refine = _ints(n_abn * n_loc), _ints(n_abn * n_loc)
    side_loc, default = _ints(2 * n_abn, -1), _ints(n_abn, -1)
    requires, strict = _ints(n_abn), _ints(n_abn)
    for a in vocab.abnormalities.values():
        i = aid[a.id]
        for loc in a.locations:
            allow[i * n_loc + lid[loc]] = 1
        for j in range(n_loc):
            refine[i * n_loc + j] = aid.get((a.refine or {}).get(locs[j]), i)
        for side, loc in a.sides.items():
            side_loc[2 * i + (0 if side == "right" else 1)] = lid[loc]
        requires[i], strict[i] = bool(a.requires_location), bool(a.strict_location)
        if a.default_location is not None:
            default[i] = lid[a.default_location]
    T.allow, T.refine, T.side_loc = allow, refine, side_loc
    T.requires, T.strict, T.default = requires, strict, default
    kt_off, kt_abn, kt_anc, kl_off, kl = [0], [], [], [0], []
    for its in all_items:
        for kind, a, b in its:
            if kind in (ABN, ANCHOR):
                kt_abn.append(aid[a])
                kt_anc.append(kind == ANCHOR)
            elif kind == LOC:
                kl += [LOC, lid[a[0]], lid[a[1]] if len(a) > 1 else -1, _SIDE_CODE[b]]
            elif kind == SIDE:
                kl += [SIDE, _SIDE_CODE[a], 0, 0]
            elif kind == SIDED:
                kl += [SIDED, lid[a[0]], lid[a[1]], 0]
        kt_off.append(len(kt_abn))
        kl_off.append(len(kl) // 4)
    T.kt_off, T.kt_abn = array("i", kt_off), array("i", kt_abn or [0])
    T.kt_anc = array("i", kt_anc or [0])
    T.kl_off, T.kl = array("i", kl_off), array("i", kl or [0])
    T.max_terms = max(1, *(b - a for a, b in pairwise(kt_off)))
    T.max_locs = max(1, *(b - a for a, b in pairwise(kl_off)))


@cython.cclass
class Hits:
    """The matches of one text: (start, end, key id) per hit in original-text offsets and the
    clause numbers the sentence logic writes; compiled, also the scan's buffers: character
    classes + a prefix count of spaces (`sp`) and the words. Reused for one report after another
    through `Work`."""

    text: str
    n: cython.Py_ssize_t
    cap: cython.Py_ssize_t
    hs: cython.int[::1]
    he: cython.int[::1]
    hk: cython.int[::1]
    cf: cython.int[::1]
    cb: cython.int[::1]
    sp: cython.int[::1]
    chars: cython.int[::1]
    words: cython.int[::1]

    def __init__(self, text: str, size: cython.Py_ssize_t) -> None:
        self.text = text
        self.n = self.cap = 0
        self.chars = self.words = self.sp = _zeros(1)
        _reserve_hits(self, size)


@cython.cfunc
def _reserve_hits(H: Hits, size: cython.Py_ssize_t) -> cython.void:
    """Room for `size` hits in H."""
    if H.cap and size <= H.cap:
        return
    cap: cython.Py_ssize_t = max(size, 2 * H.cap)
    H.cap = cap
    if cython.compiled:  # one buffer, five views
        buf: cython.int[::1] = _zeros(5 * cap)
        H.hs, H.he, H.hk = buf[0:cap], buf[cap : 2 * cap], buf[2 * cap : 3 * cap]
        H.cf, H.cb = buf[3 * cap : 4 * cap], buf[4 * cap : 5 * cap]
    else:
        H.hs, H.he, H.hk = _ints(cap), _ints(cap), _ints(cap)
        H.cf, H.cb = _ints(cap), _ints(cap)


@cython.cfunc
def _other_class(T: Tables, ch: str) -> cython.int:
    """Class of a non-ASCII character as `normalize` maps it (memoised per vocabulary)."""
    got = T.other_memo.get(ch)
    if got is None:
        low = ch.lower()
        norm = normalize(low if len(low) == 1 else ch)
        if norm == " ":
            got = 0
        elif ord(norm) < 128:
            got = T.ascii_cls[ord(norm)]
        else:
            got = T.other_cls.get(norm, -1)
        T.other_memo[ch] = got
    return got


@cython.cfunc
@cython.boundscheck(False)
@cython.wraparound(False)
def _classes(T: Tables, text: str, cl: cython.int[::1], sp: cython.int[::1]) -> cython.Py_ssize_t:
    """Character class of each character of `text` (as `normalize` maps it) into `cl`, the
    number of spaces before each offset into `sp`; returns the number of word starts."""
    n: cython.Py_ssize_t = len(text)
    asc: cython.int[::1] = T.ascii_cls
    i: cython.Py_ssize_t
    k: cython.int = 0
    words: cython.Py_ssize_t = 0
    c: cython.int
    prev: cython.int = 0
    ch: cython.Py_UCS4
    bp: cython.p_char
    if text.isascii():
        raw: bytes = text.encode("ascii")
        bp = raw
        for i in range(n):
            c = asc[bp[i]]
            cl[i] = c
            sp[i] = k
            if bp[i] == 32:
                k += 1
            if c != 0 and prev == 0:
                words += 1
            prev = c
    else:
        # per character, as normalize() does it (it lower-cases the whole text at once only to
        # be fast; that differs from per character only for a final capital sigma)
        norm: str = normalize(text) if "\u03a3" in text else text
        raw_n: bytes = _raw(norm)
        raw_t: bytes = raw_n if norm is text else _raw(text)
        for i in range(n):
            ch = _at(norm, raw_n, True, i)
            c = asc[ch] if ch < 128 else _other_class(T, norm[i])
            cl[i] = c
            sp[i] = k
            if _at(text, raw_t, True, i) == 32:
                k += 1
            if c != 0 and prev == 0:
                words += 1
            prev = c
    sp[n] = k
    return words


@cython.cfunc
@cython.boundscheck(False)
@cython.wraparound(False)
def _words(
    T: Tables, cl: cython.int[::1], n: cython.Py_ssize_t, wd: cython.int[::1]
) -> cython.void:
    """Each word (maximal run of non-space classes) as (start, end, vocabulary word id or -1)."""
    word_hash: cython.ulonglong[::1] = T.word_hash
    word_slot: cython.int[::1] = T.word_slot
    word_off: cython.int[::1] = T.word_off
    word_chars: cython.int[::1] = T.word_chars
    wmask: cython.ulonglong = (cython.cast(cython.ulonglong, 1) << T.word_bits) - 1
    i: cython.Py_ssize_t = 0
    j: cython.Py_ssize_t
    t: cython.Py_ssize_t
    w: cython.Py_ssize_t = 0
    c: cython.int
    wid: cython.int
    ok: cython.bint
    h: cython.ulonglong
    slot: cython.ulonglong
    while i < n:
        if cl[i] == 0:
            i += 1
            continue
        h = _FNV_START
        ok = True
        j = i
        while j < n:
            c = cl[j]
            if c == 0:
                break
            if c < 0:
                ok = False
            h = (h ^ cython.cast(cython.ulonglong, c)) * _FNV_PRIME
            j += 1
        wid = -1
        if ok:
            slot = h & wmask
            while word_slot[slot] >= 0:
                if word_hash[slot] == h:
                    c = word_slot[slot]
                    if word_off[c + 1] - word_off[c] == j - i:
                        t = 0
                        while t < j - i and cl[i + t] == word_chars[word_off[c] + t]:
                            t += 1
                        if t == j - i:
                            wid = c
                            break
                slot = (slot + 1) & wmask
        wd[3 * w], wd[3 * w + 1], wd[3 * w + 2] = i, j, wid
        w += 1
        i = j


@cython.cfunc
@cython.boundscheck(False)
@cython.wraparound(False)
def _word_scan(T: Tables, wd: cython.int[::1], n_words: cython.Py_ssize_t, H: Hits) -> cython.void:
    """Leftmost-longest matches over the words: from each word the longest key (a phrase of
    words one space apart) ending on a word; the scan resumes after it."""
    trans_key: cython.longlong[::1] = T.trans_key
    trans_node: cython.int[::1] = T.trans_node
    root_node: cython.int[::1] = T.root_node
    term: cython.int[::1] = T.term
    hs: cython.int[::1] = H.hs
    he: cython.int[::1] = H.he
    hk: cython.int[::1] = H.hk
    shift: cython.int = 64 - T.trans_bits
    tmask: cython.ulonglong = (cython.cast(cython.ulonglong, 1) << T.trans_bits) - 1
    nw: cython.longlong = T.n_words
    v: cython.Py_ssize_t = 0
    u: cython.Py_ssize_t
    best_u: cython.Py_ssize_t
    count: cython.Py_ssize_t = 0
    node: cython.longlong
    best: cython.int
    key: cython.longlong
    slot: cython.ulonglong
    while v < n_words:
        node, best, best_u, u = 0, -1, 0, v
        while u < n_words and wd[3 * u + 2] >= 0:
            if u > v and wd[3 * u] != wd[3 * u - 2] + 1:
                break  # not exactly one space after the previous word
            if node == 0:
                node = root_node[wd[3 * u + 2]]
                if node < 0:
                    break
            else:
                key = node * nw + wd[3 * u + 2]
                slot = (cython.cast(cython.ulonglong, key) * _GOLDEN) >> shift
                while trans_key[slot] >= 0 and trans_key[slot] != key:
                    slot = (slot + 1) & tmask
                if trans_key[slot] < 0:
                    break
                node = trans_node[slot]
            if term[node] >= 0:
                best, best_u = term[node], u
            u += 1
        if best >= 0:
            hs[count], he[count], hk[count] = wd[3 * v], wd[3 * best_u + 1], best
            count += 1
            v = best_u + 1
        else:
            v += 1
    H.n = count


def scan_hits(text: str, T: Tables) -> Hits:
    """The matches of `text` (any string) as a `Hits`."""
    H: Hits = Hits(text, 0)
    _scan_into(T, text, H)
    return H


@cython.cfunc
def _scan_into(T: Tables, text: str, H: Hits) -> cython.void:
    """Scan `text` into H (its buffers grow as needed)."""
    H.text = text
    n: cython.Py_ssize_t = len(text)
    if cython.compiled:
        if len(H.chars) < 2 * n + 1:  # exact for a new Hits, doubling for a reused one
            H.chars = _zeros(max(2 * n + 1, 2 * len(H.chars)))
        cl: cython.int[::1] = H.chars[0:n]
        H.sp = H.chars[n : 2 * n + 1]
        n_words: cython.Py_ssize_t = _classes(T, text, cl, H.sp)
        if len(H.words) < 3 * n_words + 3:
            H.words = _zeros(max(3 * n_words + 3, 2 * len(H.words)))
        _words(T, cl, n, H.words)
        _reserve_hits(H, n_words + 1)
        _word_scan(T, H.words, n_words, H)
    else:
        found = scan(T.compiled, f" {normalize(text)} ")
        _reserve_hits(H, len(found))
        count = 0
        for start, end, kid in found:
            H.hs[count], H.he[count], H.hk[count] = start, end, kid
            count += 1
        H.n = count


def match_list(text: str, T: Tables) -> list:
    """The matches of `text` as (start, end, key id) tuples (for tests and benchmarks)."""
    H: Hits = scan_hits(text, T)
    return [(H.hs[i], H.he[i], H.hk[i]) for i in range(H.n)]


def cython_compiled() -> bool:
    """Whether this module is the Cython-compiled extension."""
    return bool(cython.compiled)


@cython.cfunc
@cython.inline
@cython.exceptval(check=False)
@cython.boundscheck(False)
@cython.wraparound(False)
def _spaces(H: Hits, a: cython.Py_ssize_t, b: cython.Py_ssize_t) -> cython.Py_ssize_t:
    """text.count(" ", a, b)."""
    if cython.compiled:
        return H.sp[b] - H.sp[a] if b > a else 0
    return H.text.count(" ", a, b)


# --- sentences ----------------------------------------------------------------------------------


@cython.cfunc
@cython.inline
@cython.exceptval(check=False)
@cython.boundscheck(False)
@cython.wraparound(False)
def _at(text: str, bp: cython.p_char, wide: cython.bint, i: cython.Py_ssize_t) -> cython.Py_UCS4:
    """text[i], read from its ASCII or UTF-32 copy `bp` (see `_raw`) when compiled."""
    if cython.compiled:
        if wide:
            return cython.cast(cython.p_uint, bp)[i]
        return cython.cast(cython.uchar, bp[i])
    return text[i]


def _raw(text: str) -> bytes:
    """The characters of `text` as one byte each (ASCII) or four (UTF-32, lone surrogates kept),
    for `_at` in compiled code."""
    if text.isascii():
        return text.encode("ascii")
    return text.encode("utf-32-le", "surrogatepass")


@cython.boundscheck(False)
@cython.wraparound(False)
def split_sentences(text: str) -> list:
    """(start, end) offsets of each sentence, stripped of surrounding white space, in order
    (the rules: `radlens.reports.sections`)."""
    out: list = []
    start: cython.Py_ssize_t = _lead(text)
    n: cython.Py_ssize_t = len(text)
    last: cython.Py_ssize_t = 0
    pos: cython.Py_ssize_t
    r: cython.Py_ssize_t
    end: cython.Py_ssize_t
    ch: cython.Py_UCS4
    alpha: cython.bint
    abbrev: cython.bint
    nxt: cython.Py_ssize_t
    packed: cython.longlong
    letter: cython.int
    dots_only: cython.bint = False
    bp: cython.p_char = cython.NULL
    wide: cython.bint = False
    if cython.compiled:
        raw: bytes = _raw(text)
        bp = raw
        wide = len(raw) > n
        # only periods can end a sentence: find them with str.find (a fast search)
        dots_only = all(text.find(ch) < 0 for ch in "\n!?\u2022")
    else:
        cands = _candidates(text)
    n_cands: cython.Py_ssize_t = 0 if cython.compiled else len(cands)
    c_i: cython.Py_ssize_t = 0
    pos = -1
    while True:  # over the positions where a boundary may start, in order
        if cython.compiled and dots_only:
            pos = text.find(".", pos + 1)
            if pos < 0:
                break
        elif cython.compiled:
            pos += 1
            while pos < n:
                ch = _at(text, bp, wide, pos)
                if ch == 46 or ch == 10 or ch == 33 or ch == 63 or ch == 0x2022:  # . \n ! ? •
                    break
                pos += 1
            if pos >= n:
                break
        else:
            if c_i >= n_cands:
                break
            pos = cands[c_i]
            c_i += 1
        if pos < last:
            continue
        ch = _at(text, bp, wide, pos)
        if ch == "." or ch == "!" or ch == "?":
            # "[.!?]+" ends a sentence only before white space, a quote, a closing bracket or
            # the end of the text ("3.5", "e.g.,"): decided here without the regex
            r = pos + 1
            while r < n:
                ch = _at(text, bp, wide, r)
                if not (ch == "." or ch == "!" or ch == "?"):
                    break
                r += 1
            if r < n and not (ch.isspace() or ch == '"' or ch == "'" or ch == ")" or ch == "]"):
                continue
        nxt = _after_period(text, bp, wide, pos, n)
        if nxt >= 0:
            # the common ". Next" boundary (or a final "."), decided without the regex: a plain
            # ASCII word before the period that is not an abbreviation ends the sentence
            if cython.compiled:
                r = pos - 1
                alpha = True
                packed = 0  # the word lower-cased, 5 bits a letter (see _ABBREV_KEYS)
                while r >= 0:
                    ch = _at(text, bp, wide, r)
                    if ch == " ":
                        break
                    letter = cython.cast(cython.int, ch) | 32  # lower case for letters
                    if not (97 <= letter <= 122):
                        alpha = False
                        break
                    if pos - r <= _MAX_ABBREV:
                        packed |= cython.cast(cython.longlong, letter - 96) << (5 * (pos - 1 - r))
                    r -= 1
                alpha = alpha and r + 1 < pos
                abbrev = alpha and pos - r - 1 <= _MAX_ABBREV and packed in _ABBREV_KEYS
            else:
                word = text[text.rfind(" ", 0, pos) + 1 : pos]
                alpha = word.isascii() and word.isalpha()
                abbrev = alpha and word.lower() in ABBREV_SET
            if alpha:
                if not abbrev:
                    if pos + 1 > start:
                        out.append((start, pos + 1))
                    start = last = nxt
                continue
        m = BOUND.match(text, pos)
        if m is None:
            continue
        if m.group(1):
            end = m.end(1)
        else:  # line break or bullet: the sentence ends before it, minus trailing blanks
            end = pos
            while end > start and text[end - 1] in " \t\r":
                end -= 1
        if end > start:
            out.append((start, end))
        start = last = m.end()
    end = n
    while end > start and text[end - 1].isspace():
        end -= 1
    if end > start:
        out.append((start, end))
    return out


@cython.cfunc
def _lead(text: str) -> cython.Py_ssize_t:
    """Where the first sentence starts: after leading white space and a "Header:" (`LEAD`); 0
    without the regex when the text starts with no white space and has no ":" where a header's
    could be (a header is at most 41 characters)."""
    if text and not text[0].isspace() and text.find(":", 0, 42) < 0:
        return 0
    return LEAD.match(text).end()


@cython.cfunc
@cython.exceptval(check=False)
@cython.boundscheck(False)
@cython.wraparound(False)
def _after_period(
    text: str, bp: cython.p_char, wide: cython.bint, pos: cython.Py_ssize_t, n: cython.Py_ssize_t
) -> cython.Py_ssize_t:
    """Where the next sentence starts when text[pos] is a lone "." followed by spaces / tabs and
    then a non-white character or the end of the text (the boundary regex's simple case), else
    -1."""
    q: cython.Py_ssize_t = pos + 1
    if not cython.compiled:  # str operations instead of one call per character
        if text[pos] != "." or (q < n and text[q] not in " \t"):
            return -1
        while q < n and text[q] in " \t":
            q += 1
        return -1 if q < n and text[q].isspace() else q
    if _at(text, bp, wide, pos) != ".":
        return -1
    if q == n:
        return n
    ch: cython.Py_UCS4 = _at(text, bp, wide, q)
    if not (ch == " " or ch == "\t"):
        return -1
    while q < n:
        ch = _at(text, bp, wide, q)
        if not (ch == " " or ch == "\t"):
            break
        q += 1
    if q < n and ch.isspace():
        return -1
    return q


def _candidates(text: str) -> list:
    """Positions where a sentence boundary may start (str.find is far faster than a regex scan
    in plain Python)."""
    out: list = []
    kinds = 0
    for ch in ".!?\n\u2022":
        pos = text.find(ch)
        if pos < 0:
            continue
        kinds += 1
        while pos >= 0:
            out.append(pos)
            pos = text.find(ch, pos + 1)
    if kinds > 1:
        out.sort()
    return out


# --- per-report scratch -------------------------------------------------------------------------

#: status names by rank
_STATUS = ("absent", "uncertain", "present")
# a row in Work.rows: abnormality (refined), location or -1, status rank, sentence number, span
# start and end (report offsets), first cue, number of cues
_ROW = cython.declare(cython.Py_ssize_t, 8)
# a term in Work.terms: hit, abnormality, status rank, first cue, number of cues, number of
# locations, first and last term of its group (-1: not computed yet), first and last of its
# locations in Work.links (a list of (location, next) pairs; -1: none)
_TRM = cython.declare(cython.Py_ssize_t, 10)
# a merge entry in Work.mrg: (abnormality, location) key, row, score, status rank, section
_MRG = cython.declare(cython.Py_ssize_t, 5)
#: a `Work` whose buffers grew past this many ints (a huge report) is not kept for the next one
_KEEP_INTS = cython.declare(cython.Py_ssize_t, 1 << 20)


@cython.cclass
class Work:
    """Scratch buffers for the decisions of one report, reused through `Tables.pool`: the scan's
    `Hits`, the rows and cue spans of the report, per sentence its term entries, terms with their
    location lists, location items and per-hit flags, for the merge a table (abnormality,
    location) -> entry and the best located score per abnormality (both back to -1 after each
    report), and the one-cue tuples already made."""

    rows: cython.int[::1]
    n_rows: cython.Py_ssize_t
    cues: cython.int[::1]
    n_cues: cython.Py_ssize_t
    c_first: cython.Py_ssize_t
    cap: cython.Py_ssize_t
    ent: cython.int[::1]
    terms: cython.int[::1]
    bits: cython.int[::1]
    links: cython.int[::1]
    n_links: cython.Py_ssize_t
    located: cython.int[::1]
    n_located: cython.Py_ssize_t
    items: cython.int[::1]
    flags: cython.int[::1]
    slot: cython.int[::1]
    best: cython.int[::1]
    mrg: cython.int[::1]
    hits: Hits
    one_cue: dict

    def __init__(self, T: Tables) -> None:
        self.hits = Hits("", 64)
        self.one_cue = {}
        self.rows = _zeros(_ROW * 64)
        self.cues = _zeros(2 * 256)
        self.n_rows = self.n_cues = self.c_first = self.cap = self.n_located = self.n_links = 0
        self.items, self.links = _zeros(64), _zeros(64)
        _reserve(self, T, 32)
        self.slot = _ints(T.n_abn * (T.n_loc + 1), -1)
        self.best = _ints(T.n_abn, -1)
        self.mrg = _zeros(_MRG * 64)


@cython.cfunc
def _take(T: Tables) -> Work:
    """A scratch `Work` for one report (give it back with `_give`)."""
    W: Work = T.pool.pop() if T.pool else Work(T)
    W.n_rows = W.n_cues = 0
    return W


@cython.cfunc
def _give(T: Tables, W: Work) -> cython.void:
    """Put W back into the pool, unless a huge report made its buffers larger than _KEEP_INTS
    ints (then they are freed)."""
    big: cython.Py_ssize_t = max(len(W.hits.chars), len(W.rows), len(W.cues), len(W.items))
    if big <= _KEEP_INTS and W.cap * _TRM * T.max_terms <= _KEEP_INTS:
        T.pool.append(W)


@cython.cfunc
def _reserve(W: Work, T: Tables, n_hits: cython.Py_ssize_t) -> cython.void:
    """Per-sentence buffers for a sentence of `n_hits` hits."""
    if n_hits <= W.cap:
        return
    cap: cython.Py_ssize_t = max(n_hits, 2 * W.cap)
    W.cap = cap
    W.ent = _zeros(2 * cap * T.max_terms)
    W.terms = _zeros(_TRM * cap * T.max_terms)
    W.bits = _zeros(cap * T.max_terms * T.loc_words)
    W.located = _zeros(cap)
    W.flags = _zeros(cap)


@cython.cfunc
def _grown(old: cython.int[::1], need: cython.Py_ssize_t) -> cython.int[::1]:
    """A copy of `old` with room for at least `need` ints."""
    n: cython.Py_ssize_t = len(old)
    new: cython.int[::1] = _zeros(max(need, 2 * n))
    new[:n] = old
    return new


# --- one sentence -------------------------------------------------------------------------------


def sentence_rows(sent: str, T: Tables) -> tuple:
    """Rows of one sentence scanned on its own: ((abnormality, location), score, status, start,
    end, cues), offsets in the sentence, score = status rank + 10 (a reporting section)."""
    W: Work = _take(T)
    H: Hits = W.hits
    _scan_into(T, sent, H)
    if not H.n:
        _give(T, W)
        return ()
    _decide(H, T, W, 0, H.n, 0, len(sent), 0, 0)
    out: list = []
    r: cython.Py_ssize_t
    for r in range(0, W.n_rows * _ROW, _ROW):
        out.append(
            (
                (
                    T.abn_names[W.rows[r]],
                    T.loc_names[W.rows[r + 1]] if W.rows[r + 1] >= 0 else None,
                ),
                W.rows[r + 2] + 10,
                _STATUS[W.rows[r + 2]],
                W.rows[r + 4],
                W.rows[r + 5],
                _cues(W, sent, W.rows[r + 6], W.rows[r + 7]),
            )
        )
    _give(T, W)
    return tuple(out)


@cython.cfunc
def _cues(W: Work, text: str, first: cython.Py_ssize_t, n: cython.Py_ssize_t) -> tuple:
    """The cue words of a row, each once, in order."""
    if n == 0:
        return ()
    if n == 1:  # one tuple per distinct cue word (fewer objects for the garbage collector)
        word = text[W.cues[2 * first] : W.cues[2 * first + 1]]
        one = W.one_cue.get(word)
        if one is None:
            if len(W.one_cue) >= 4096:
                W.one_cue.clear()
            one = W.one_cue[word] = (word,)
        return one
    words = [text[W.cues[2 * i] : W.cues[2 * i + 1]] for i in range(first, first + n)]
    return tuple(dict.fromkeys(words))


@cython.cfunc
def _decide(
    H: Hits,
    T: Tables,
    W: Work,
    lo: cython.Py_ssize_t,
    hi: cython.Py_ssize_t,
    s0: cython.Py_ssize_t,
    s1: cython.Py_ssize_t,
    off: cython.Py_ssize_t,
    sent: cython.Py_ssize_t,
) -> cython.void:
    """Decide the sentence text[s0:s1] whose hits are lo..hi-1: its rows go to W.rows with
    sentence number `sent`, spans and cues shifted by `off` (to report offsets)."""
    if H.text.find("?", s0, s1) >= 0:
        H = _with_question_marks(H, T, lo, hi, s0, s1)
        lo, hi = 0, H.n
    _reserve(W, T, hi - lo)
    n_ent: cython.Py_ssize_t = _clauses(H, T, W, lo, hi, s0, s1)
    if n_ent == 0:
        return
    W.n_links = 0
    n_terms: cython.Py_ssize_t = _statuses(H, T, W, lo, hi, n_ent, off)
    if n_terms == 0:
        return
    n_res: cython.Py_ssize_t = _attach(H, T, W, lo, n_terms) if W.n_located else 0
    _emit(H, T, W, lo, n_terms, n_res, off, sent)


@cython.cfunc
@cython.boundscheck(False)
@cython.wraparound(False)
def _clauses(
    H: Hits,
    T: Tables,
    W: Work,
    lo: cython.Py_ssize_t,
    hi: cython.Py_ssize_t,
    s0: cython.Py_ssize_t,
    s1: cython.Py_ssize_t,
) -> cython.Py_ssize_t:
    """Number the clauses of hits lo..hi-1 and list the term entries (hit, key item) in W.ent
    and the hits with a location, side or sided phrase in W.located; returns the entries.

    Semicolons and terminators split a sentence into clauses: `cf` for cues before a term (every
    terminator ends them), `cb` for cues after it (terminators with direction "forward", e.g.
    "which", do not end those)."""
    text: str = H.text
    # the first semicolon at or after the previous hit's start (none: past the sentence)
    semi: cython.Py_ssize_t = text.find(";", H.hs[lo], s1) if lo < hi else -1
    if semi < 0:
        semi = s1
    cf: cython.int = 0
    cb: cython.int = 0
    n_ent: cython.Py_ssize_t = 0
    n_loc: cython.Py_ssize_t = 0
    k: cython.Py_ssize_t
    e: cython.Py_ssize_t
    key: cython.int
    mask: cython.int
    for k in range(lo, hi):
        key = H.hk[k]
        mask = T.kmask[key]
        if semi < H.hs[k]:  # a semicolon since the previous hit: a new clause
            cf += 1
            cb += 1
            semi = text.find(";", H.hs[k], s1)
            if semi < 0:
                semi = s1
        if mask & _STOP:
            cf += T.kstop_f[key]
            cb += T.kstop_b[key]
        if mask & _TERM:
            for e in range(T.kt_off[key], T.kt_off[key + 1]):
                W.ent[2 * n_ent] = k
                W.ent[2 * n_ent + 1] = e
                n_ent += 1
        if mask & _LOCB:
            W.located[n_loc] = k
            n_loc += 1
        H.cf[k] = cf
        H.cb[k] = cb
    W.n_located = n_loc
    return n_ent


@cython.cfunc
@cython.boundscheck(False)
@cython.wraparound(False)
def _statuses(
    H: Hits,
    T: Tables,
    W: Work,
    lo: cython.Py_ssize_t,
    hi: cython.Py_ssize_t,
    n_ent: cython.Py_ssize_t,
    off: cython.Py_ssize_t,
) -> cython.Py_ssize_t:
    """Decide each term entry into W.terms: a term is a (hit, abnormality) pair, placed where it
    is first decided; a later entry for the same pair replaces the decision (a dict keyed by the
    pair); an anchor without a normal / abnormal cue decides nothing. Returns the terms."""
    n_terms: cython.Py_ssize_t = 0
    x: cython.Py_ssize_t
    t: cython.Py_ssize_t
    k: cython.int
    e: cython.int
    abn: cython.int
    rank: cython.int
    for x in range(n_ent):
        k, e = W.ent[2 * x], W.ent[2 * x + 1]
        rank = _status(H, T, W, lo, hi, k, T.kt_anc[e], off)
        if rank < 0:
            continue
        abn = T.kt_abn[e]
        t = n_terms - 1
        while t >= 0 and W.terms[t * _TRM] == k and W.terms[t * _TRM + 1] != abn:
            t -= 1
        if t < 0 or W.terms[t * _TRM] != k:
            t = n_terms
            n_terms += 1
            W.terms[t * _TRM] = k
            W.terms[t * _TRM + 1] = abn
            W.terms[t * _TRM + 5] = 0
            W.terms[t * _TRM + 6] = -1
        W.terms[t * _TRM + 2] = rank
        W.terms[t * _TRM + 3] = W.c_first
        W.terms[t * _TRM + 4] = W.n_cues - W.c_first
    return n_terms


@cython.cfunc
@cython.boundscheck(False)
@cython.wraparound(False)
def _status(
    H: Hits,
    T: Tables,
    W: Work,
    lo: cython.Py_ssize_t,
    hi: cython.Py_ssize_t,
    k: cython.Py_ssize_t,
    is_anchor: cython.bint,
    off: cython.Py_ssize_t,
) -> cython.int:
    """Status rank of term k (0 absent, 1 uncertain, 2 present), or -1 for an anchor without a
    normal / abnormal cue nearby; its cue spans (+ `off`) go to W.cues[W.c_first:W.n_cues].

    Every cue in scope counts: negation wins over uncertainty ("no finding suggestive of X")."""
    need: cython.Py_ssize_t = 2 * (W.n_cues + hi - lo + 2)
    if need > len(W.cues):
        W.cues = _grown(W.cues, need)
    first: cython.Py_ssize_t = W.n_cues + 2  # room in front: an anchor, a negation before it
    c: cython.Py_ssize_t = first
    t_start: cython.Py_ssize_t = H.hs[k]
    t_end: cython.Py_ssize_t = H.he[k]
    scope: cython.Py_ssize_t = T.scope
    cats: cython.int = 0
    anchor: cython.int = 0
    anchor_dist: cython.Py_ssize_t = 1 << 30
    anchor_a: cython.Py_ssize_t = 0
    anchor_b: cython.Py_ssize_t = 0
    anchor_j: cython.Py_ssize_t = -1
    j: cython.Py_ssize_t
    key: cython.int
    gap: cython.Py_ssize_t
    c_start: cython.Py_ssize_t
    c_end: cython.Py_ssize_t
    clause: cython.int = H.cf[k]
    own: cython.bint = False  # the term has a cue of its own in a list ("A, likely B")
    j = k - 1
    while j >= lo:  # cues before the term act forward
        if H.cf[j] != clause:
            break
        c_start, c_end = H.hs[j], H.he[j]
        key = H.hk[j]
        if own and T.kmask[key] & _TERM:
            break  # the cues of an earlier list item are not this term's
        if cython.compiled or T.kmask[key] & _CUE_F:  # O(1) compiled: every hit is checked
            gap = _spaces(H, c_end, t_start)
            if gap > scope:
                break  # any cue further away is out of scope too
        if T.kmask[key] & _CUE_F:
            if is_anchor and T.kanc_f[key] and t_start - c_end < anchor_dist and gap <= _ANCHOR_W:
                anchor_dist, anchor, anchor_a, anchor_b = (
                    t_start - c_end,
                    T.kanc_f[key],
                    c_start,
                    c_end,
                )
            if T.kcue_f[key]:
                cats |= T.kcue_f[key]
                W.cues[2 * c], W.cues[2 * c + 1] = c_start + off, c_end + off
                c += 1
                if not own and _own_term(H, T, j, lo, hi) == k:
                    own = True
        j -= 1
    clause = H.cb[k]
    j = k + 1
    while j < hi:  # cues after the term act backward
        if H.cb[j] != clause:
            break
        c_start, c_end = H.hs[j], H.he[j]
        key = H.hk[j]
        if cython.compiled or T.kmask[key] & _CUE_B:  # O(1) compiled: every hit is checked
            gap = _spaces(H, t_end, c_start)
            if gap > scope:
                break  # any cue further away is out of scope too
        if T.kmask[key] & _CUE_B:
            if is_anchor and T.kanc_b[key] and c_start - t_end < anchor_dist and gap <= _ANCHOR_W:
                anchor_dist, anchor, anchor_a, anchor_b = (
                    c_start - t_end,
                    T.kanc_b[key],
                    c_start,
                    c_end,
                )
                anchor_j = j
            if T.kcue_b[key] and _own_term(H, T, j, lo, hi) < 0:  # not a later term's own cue
                cats |= T.kcue_b[key]
                W.cues[2 * c], W.cues[2 * c + 1] = c_start + off, c_end + off
                c += 1
        j += 1
    rank: cython.int = -1
    if is_anchor:
        if anchor == 0:
            return -1
        first -= 1
        W.cues[2 * first], W.cues[2 * first + 1] = anchor_a + off, anchor_b + off
        if anchor == A_NORMAL:
            rank = 0
        else:
            for j in range(k + 1, anchor_j):  # "heart is not enlarged": a negation in between
                if T.kmask[H.hk[j]] & _NEG:
                    first -= 1
                    W.cues[2 * first], W.cues[2 * first + 1] = H.hs[j] + off, H.he[j] + off
                    rank = 0
                    break
    if rank < 0:
        rank = 0 if cats & C_NEG else (1 if cats & C_UNC else 2)
    W.c_first = first
    W.n_cues = c
    return rank


@cython.cfunc
@cython.boundscheck(False)
@cython.wraparound(False)
def _own_term(
    H: Hits, T: Tables, j: cython.Py_ssize_t, lo: cython.Py_ssize_t, hi: cython.Py_ssize_t
) -> cython.Py_ssize_t:
    """The hit of the term that cue j modifies as its own in a list, or -1: in "A, less likely
    B" / "likely A, possible B" the cue follows a list joiner after an earlier hit and comes
    within _PREMOD_WORDS words before the term, with only location hits between. A differential
    cue ("A versus B") belongs to both terms: -1."""
    if j <= lo or j + 1 >= hi:
        return -1
    text: str = H.text
    before: str = text[H.he[j - 1] : H.hs[j]].strip().lower()
    if not before or (before not in _JOINERS and before != ";"):
        return -1
    if text[H.hs[j] : H.he[j]].lower() in _DIFF_CUES:
        return -1
    m: cython.Py_ssize_t = j + 1
    mask: cython.int
    while m < hi:
        mask = T.kmask[H.hk[m]]
        if mask & _TERM:
            break
        if mask & (_CUE_F | _CUE_B | _STOP):
            return -1
        m += 1
    if m >= hi or _spaces(H, H.he[j], H.hs[m]) > _PREMOD_WORDS:
        return -1
    return m


@cython.cfunc
def _with_question_marks(
    H: Hits,
    T: Tables,
    lo: cython.Py_ssize_t,
    hi: cython.Py_ssize_t,
    s0: cython.Py_ssize_t,
    s1: cython.Py_ssize_t,
) -> Hits:
    """The sentence's hits with one uncertainty cue (acting backward) at each "?"."""
    text: str = H.text
    marks: list = []
    pos: cython.Py_ssize_t = text.find("?", s0, s1)
    while pos >= 0:
        marks.append(pos)
        pos = text.find("?", pos + 1, s1)
    out: Hits = Hits(text, hi - lo + len(marks))
    out.sp = H.sp
    k: cython.Py_ssize_t = lo
    m: cython.Py_ssize_t = 0
    count: cython.Py_ssize_t = 0
    nm: cython.Py_ssize_t = len(marks)
    while k < hi or m < nm:
        if m < nm and (k >= hi or marks[m] < H.hs[k]):
            pos = marks[m]
            out.hs[count], out.he[count], out.hk[count] = pos, pos + 1, T.qkey
            m += 1
        else:
            out.hs[count], out.he[count], out.hk[count] = H.hs[k], H.he[k], H.hk[k]
            k += 1
        count += 1
    out.n = count
    return out


# --- locations ----------------------------------------------------------------------------------


@cython.cfunc
@cython.boundscheck(False)
@cython.wraparound(False)
def _attach(
    H: Hits, T: Tables, W: Work, lo: cython.Py_ssize_t, n_terms: cython.Py_ssize_t
) -> cython.Py_ssize_t:
    """Location phrases, sided phrases and side words of a sentence -> the location lists of the
    terms they describe (`_add_location`).

    A location goes to the nearest term that allows it and to the terms listed with that one
    ("consolidation and atelectasis in the left lower lobe"); a sided phrase ("lower lobes")
    takes the nearest side word; a bare side word reaches a term within SIDE_WORDS words. The
    location entries (hit, location, second location or -1, side) stay at the start of W.items,
    the plain ones first; W.flags marks the hits that gave a term a location (2) and the side words
    used by a sided phrase (1). Returns the number of location entries."""
    if len(W.items) < 12 * W.n_located * T.max_locs:
        W.items = _zeros(24 * W.n_located * T.max_locs)
    reg: cython.Py_ssize_t = len(W.items) // 3  # three regions, see below
    n_lh: cython.Py_ssize_t = 0  # location phrases (hit, location, second or -1, side) from 0
    n_sh: cython.Py_ssize_t = 0  # side words (hit, side) from reg
    n_sd: cython.Py_ssize_t = 0  # sided phrases (hit, right, left, plural) from 2 * reg
    x: cython.Py_ssize_t
    i: cython.Py_ssize_t
    p: cython.Py_ssize_t
    k: cython.int
    kind: cython.int
    for x in range(n_terms * T.loc_words):  # no term has a location yet
        W.bits[x] = 0
    for x in range(W.n_located):
        k = W.located[x]
        W.flags[k - lo] = 0
        for i in range(4 * T.kl_off[H.hk[k]], 4 * T.kl_off[H.hk[k] + 1], 4):
            kind = T.kl[i]
            if kind == LOC:
                p = 4 * n_lh
                n_lh += 1
            elif kind == SIDE:
                p = reg + 4 * n_sh
                n_sh += 1
            else:
                p = 2 * reg + 4 * n_sd
                n_sd += 1
            W.items[p], W.items[p + 1], W.items[p + 2] = k, T.kl[i + 1], T.kl[i + 2]
            W.items[p + 3] = _plural(H, k) if kind == SIDED else T.kl[i + 3]
    if n_lh + n_sh + n_sd == 0:
        return 0
    # location entries: the location phrases where they are, then the resolved sided phrases
    n_res: cython.Py_ssize_t = n_lh
    for x in range(n_sd):
        n_res = _resolve_sided(W, lo, 2 * reg + 4 * x, n_lh, n_sh, n_res)
    for x in range(0, 4 * n_res, 4):
        _place(H, T, W, lo, n_terms, W.items[x], W.items[x + 1])
        if W.items[x + 2] >= 0:
            _place(H, T, W, lo, n_terms, W.items[x], W.items[x + 2])
    for x in range(reg, reg + 4 * n_sh, 4):
        if not W.flags[W.items[x] - lo] & 1:
            _side_word(H, T, W, n_terms, W.items[x], W.items[x + 1])
    return n_res


@cython.cfunc
def _plural(H: Hits, k: cython.Py_ssize_t) -> cython.int:
    """Whether a sided phrase names both sides when no side word resolves it ("lower lobes")."""
    end: cython.Py_ssize_t = H.he[k]
    start: cython.Py_ssize_t = H.hs[k]
    text: str = H.text
    return text[end - 1 : end] in "sS" or (end - start <= 4 and text[start:end].lower() == "hila")


@cython.cfunc
@cython.boundscheck(False)
@cython.wraparound(False)
def _resolve_sided(
    W: Work,
    lo: cython.Py_ssize_t,
    p: cython.Py_ssize_t,
    n_lh: cython.Py_ssize_t,
    n_sh: cython.Py_ssize_t,
    n_res: cython.Py_ssize_t,
) -> cython.Py_ssize_t:
    """The sided phrase at W.items[p] with the nearest side word or sided location phrase (the
    earlier one on ties) as a location entry; returns the number of entries."""
    reg: cython.Py_ssize_t = len(W.items) // 3
    k: cython.Py_ssize_t = W.items[p]
    near: cython.Py_ssize_t = -1
    side: cython.int = 0
    d: cython.Py_ssize_t
    best_d: cython.Py_ssize_t = 0
    q: cython.Py_ssize_t
    ks: cython.Py_ssize_t
    s: cython.int
    # candidates in order: side words (side in field 1), then location phrases with a side
    for q in range(reg, reg + 4 * n_sh + 4 * n_lh, 4):
        if q < reg + 4 * n_sh:
            ks, s = W.items[q], W.items[q + 1]
        else:
            ks, s = W.items[q - reg - 4 * n_sh], W.items[q - reg - 4 * n_sh + 3]
            if s == 0:
                continue
        d = abs(ks - k)
        if near < 0 or d < best_d or (d == best_d and not ks > k and near > k):
            near, best_d, side = ks, d, s
    out: cython.Py_ssize_t = 4 * n_res
    W.items[out], W.items[out + 3] = k, 0
    if near < 0:
        if not W.items[p + 3]:
            return n_res
        W.items[out + 1], W.items[out + 2] = W.items[p + 1], W.items[p + 2]
    else:
        W.flags[near - lo] |= 1
        if side == 3:
            W.items[out + 1], W.items[out + 2] = W.items[p + 1], W.items[p + 2]
        else:
            W.items[out + 1], W.items[out + 2] = W.items[p + 1] if side == 1 else W.items[p + 2], -1
    return n_res + 1


@cython.cfunc
@cython.boundscheck(False)
@cython.wraparound(False)
def _place(
    H: Hits,
    T: Tables,
    W: Work,
    lo: cython.Py_ssize_t,
    n_terms: cython.Py_ssize_t,
    k: cython.Py_ssize_t,
    loc: cython.int,
) -> cython.void:
    """Location `loc` of hit k to the nearest term that allows it and the terms listed with it."""
    n_loc: cython.Py_ssize_t = T.n_loc
    best: cython.Py_ssize_t = -1
    best_gap: cython.Py_ssize_t = 0
    gap: cython.Py_ssize_t
    t: cython.Py_ssize_t
    for t in range(n_terms):
        if T.allow[W.terms[t * _TRM + 1] * n_loc + loc]:
            gap = _gap(H, W.terms[t * _TRM], k)
            if best < 0 or gap < best_gap:
                best, best_gap = t, gap
    if best < 0:
        return
    W.flags[k - lo] |= 2
    _group(H, W, n_terms, best)
    for t in range(W.terms[best * _TRM + 6], W.terms[best * _TRM + 7] + 1):
        if T.allow[W.terms[t * _TRM + 1] * n_loc + loc]:
            _add_location(W, T, t, loc)


@cython.cfunc
@cython.boundscheck(False)
@cython.wraparound(False)
def _side_word(
    H: Hits,
    T: Tables,
    W: Work,
    n_terms: cython.Py_ssize_t,
    k: cython.Py_ssize_t,
    side: cython.int,
) -> cython.void:
    """A bare side word ("right pleural effusion", "effusion on the left") to the nearest term
    after it (else before it) within SIDE_WORDS words and the terms listed with that one."""
    after: cython.Py_ssize_t = 0
    while after < n_terms and W.terms[after * _TRM] <= k:
        after += 1
    before: cython.Py_ssize_t = after - 1
    while before >= 0 and W.terms[before * _TRM] >= k:
        before -= 1
    target: cython.Py_ssize_t = -1
    if after < n_terms and _spaces(H, H.he[k], H.hs[W.terms[after * _TRM]]) <= _SIDE_W:
        target = after
    elif before >= 0 and _spaces(H, H.he[W.terms[before * _TRM]], H.hs[k]) <= _SIDE_W:
        target = before
    if target < 0:
        return
    _group(H, W, n_terms, target)
    t: cython.Py_ssize_t
    loc: cython.int
    for t in range(W.terms[target * _TRM + 6], W.terms[target * _TRM + 7] + 1):
        if side != 2:  # right or both
            loc = T.side_loc[2 * W.terms[t * _TRM + 1]]
            if loc >= 0:
                _add_location(W, T, t, loc)
        if side != 1:  # left or both
            loc = T.side_loc[2 * W.terms[t * _TRM + 1] + 1]
            if loc >= 0:
                _add_location(W, T, t, loc)


@cython.cfunc
@cython.boundscheck(False)
@cython.wraparound(False)
def _add_location(W: Work, T: Tables, t: cython.Py_ssize_t, loc: cython.int) -> cython.void:
    """Append `loc` to term t's locations unless it is there (a bit set per term, 16 locations
    an int, and a linked list in order)."""
    word: cython.Py_ssize_t = t * T.loc_words + (loc >> 4)
    bit: cython.int = 1 << (loc & 15)
    if W.bits[word] & bit:
        return
    W.bits[word] |= bit
    if 2 * W.n_links + 2 > len(W.links):
        W.links = _grown(W.links, 2 * W.n_links + 2)
    i: cython.Py_ssize_t = W.n_links
    W.n_links += 1
    W.links[2 * i], W.links[2 * i + 1] = loc, -1
    if W.terms[t * _TRM + 5] == 0:
        W.terms[t * _TRM + 8] = i
    else:
        W.links[2 * W.terms[t * _TRM + 9] + 1] = i
    W.terms[t * _TRM + 9] = i
    W.terms[t * _TRM + 5] += 1


@cython.cfunc
@cython.inline
@cython.exceptval(check=False)
def _gap(H: Hits, term_k: cython.Py_ssize_t, loc_k: cython.Py_ssize_t) -> cython.Py_ssize_t:
    """Distance of a location from a term in characters (a location before it counts 6 more)."""
    if loc_k > term_k:
        return H.hs[loc_k] - H.he[term_k]
    return H.hs[term_k] - H.he[loc_k] + 6


@cython.cfunc
@cython.boundscheck(False)
@cython.wraparound(False)
def _group(H: Hits, W: Work, n_terms: cython.Py_ssize_t, t: cython.Py_ssize_t) -> cython.void:
    """The terms listed together with term t ("A, B and C"; they share its locations) as the
    range W.terms[t].group start .. group end (computed once)."""
    if W.terms[t * _TRM + 6] >= 0:
        return
    a: cython.Py_ssize_t = t
    while a > 0 and _joined(H, W.terms[(a - 1) * _TRM], W.terms[a * _TRM]):
        a -= 1
    b: cython.Py_ssize_t = t
    while b + 1 < n_terms and _joined(H, W.terms[b * _TRM], W.terms[(b + 1) * _TRM]):
        b += 1
    W.terms[t * _TRM + 6], W.terms[t * _TRM + 7] = a, b


@cython.cfunc
def _joined(H: Hits, ka: cython.Py_ssize_t, kb: cython.Py_ssize_t) -> cython.bint:
    """Whether the terms of hits ka < kb are listed together (same hit, or only a joiner such
    as "," / "and" / "or" between them)."""
    if ka == kb:
        return True
    between: str = H.text[H.he[ka] : H.hs[kb]].strip().lower()
    if between[:1] == ",":  # "A, versus B", "A, less likely B"
        between = between[1:].strip()
    return between in _LIST_JOINERS


# --- rows ---------------------------------------------------------------------------------------


@cython.cfunc
@cython.boundscheck(False)
@cython.wraparound(False)
def _emit(
    H: Hits,
    T: Tables,
    W: Work,
    lo: cython.Py_ssize_t,
    n_terms: cython.Py_ssize_t,
    n_res: cython.Py_ssize_t,
    off: cython.Py_ssize_t,
    sent: cython.Py_ssize_t,
) -> cython.void:
    """The rows of a sentence's terms: one per location (refined: "nodule" in the liver is a
    liver lesion), else one without (or with the default location); a term that requires a
    location and has none, or a strict one right next to a location it cannot take, gives none."""
    n_loc: cython.Py_ssize_t = T.n_loc
    t: cython.Py_ssize_t
    _i: cython.Py_ssize_t
    n: cython.Py_ssize_t
    r: cython.Py_ssize_t
    k: cython.Py_ssize_t
    link: cython.Py_ssize_t
    abn: cython.int
    loc: cython.int
    for t in range(n_terms):
        abn, n = W.terms[t * _TRM + 1], W.terms[t * _TRM + 5]
        if n == 0:
            if T.requires[abn]:
                continue  # e.g. "increase in density" is a lung opacity only with a lung location
            if T.strict[abn] and n_res and _other_place(H, T, W, lo, n_res, t):
                continue
        need: cython.Py_ssize_t = _ROW * (W.n_rows + max(n, 1))
        if need > len(W.rows):
            W.rows = _grown(W.rows, need)
        k, link = W.terms[t * _TRM], W.terms[t * _TRM + 8]
        for _i in range(max(n, 1)):  # a row per location, else one with the default (or none)
            if n:
                loc, link = W.links[2 * link], W.links[2 * link + 1]
            else:
                loc = T.default[abn]
            r = W.n_rows * _ROW
            W.rows[r] = abn if loc < 0 else T.refine[abn * n_loc + loc]
            W.rows[r + 1], W.rows[r + 2], W.rows[r + 3] = loc, W.terms[t * _TRM + 2], sent
            W.rows[r + 4], W.rows[r + 5] = H.hs[k] + off, H.he[k] + off
            W.rows[r + 6], W.rows[r + 7] = W.terms[t * _TRM + 3], W.terms[t * _TRM + 4]
            W.n_rows += 1


@cython.cfunc
@cython.boundscheck(False)
@cython.wraparound(False)
def _other_place(
    H: Hits,
    T: Tables,
    W: Work,
    lo: cython.Py_ssize_t,
    n_res: cython.Py_ssize_t,
    t: cython.Py_ssize_t,
) -> cython.bint:
    """Whether the location entry nearest to term t that gave no term a location lies within 8
    words of it and names only locations t cannot take ("nodule in the liver", "pericardial ...
    effusion"): then the term names something else."""
    k: cython.Py_ssize_t = W.terms[t * _TRM]
    near: cython.Py_ssize_t = -1
    x: cython.Py_ssize_t
    for x in range(0, 4 * n_res, 4):
        if W.flags[W.items[x] - lo] & 2:
            continue
        if near < 0 or abs(W.items[x] - k) < abs(W.items[near] - k):
            near = x
    if near < 0:
        return False
    start: cython.Py_ssize_t = H.hs[k]
    end: cython.Py_ssize_t = H.he[k]
    ls: cython.Py_ssize_t = H.hs[W.items[near]]
    le: cython.Py_ssize_t = H.he[W.items[near]]
    gap: cython.Py_ssize_t = _spaces(H, end, ls) if ls >= end else _spaces(H, le, start)
    base: cython.Py_ssize_t = W.terms[t * _TRM + 1] * T.n_loc
    if T.allow[base + W.items[near + 1]]:
        return False
    if W.items[near + 2] >= 0 and T.allow[base + W.items[near + 2]]:
        return False
    return gap <= 8


# --- one report ---------------------------------------------------------------------------------


def report_rows(text: str, T: Tables) -> list:
    """Findings of one report as row tuples (see `radlens.reports.labeler.label_rows`) from ONE
    scan of the whole report; no memoisation."""
    if not text or text.isspace():
        return []
    sections = find_sections(text) if ":" in text else None
    sentences = split_sentences(text)
    W: Work = _take(T)
    _per_sentence(text, sentences, T, W)
    out: list = _merge_rows(W, T, text, sentences, sections)
    _give(T, W)
    return out


@cython.cfunc
@cython.boundscheck(False)
@cython.wraparound(False)
def _per_sentence(text: str, sentences: list, T: Tables, W: Work) -> cython.void:
    """The rows of each sentence into W, each sentence taking its slice of the report's hits."""
    H: Hits = W.hits
    _scan_into(T, text, H)
    S: Hits
    n: cython.Py_ssize_t = H.n
    lo: cython.Py_ssize_t = 0
    hi: cython.Py_ssize_t
    s0: cython.Py_ssize_t
    s1: cython.Py_ssize_t
    i: cython.Py_ssize_t
    has_term: cython.bint
    for i in range(len(sentences)):
        s0, s1 = sentences[i]
        while lo < n and H.hs[lo] < s0:
            lo += 1
        hi = lo
        has_term = False
        while hi < n and H.hs[hi] < s1:
            if T.kmask[H.hk[hi]] & _TERM:
                has_term = True
            hi += 1
        if (lo > 0 and H.he[lo - 1] > s0) or (hi > lo and H.he[hi - 1] > s1):
            # a match runs across a sentence boundary: scan this sentence on its own
            S = scan_hits(text[s0:s1], T)
            if S.n:
                _decide(S, T, W, 0, S.n, 0, s1 - s0, s0, i)
        elif has_term:
            _decide(H, T, W, lo, hi, s0, s1, 0, i)
        lo = hi


@cython.cfunc
@cython.boundscheck(False)
@cython.wraparound(False)
def _merge_rows(W: Work, T: Tables, text: str, sentences: list, sections) -> list:
    """`merge` of the rows in W (the same result, keyed by int pairs): one row tuple per
    (abnormality, location) of the report."""
    if len(W.mrg) < _MRG * W.n_rows:
        W.mrg = _zeros(2 * _MRG * W.n_rows)
    rows: cython.int[::1] = W.rows  # local views: once per report
    mrg: cython.int[::1] = W.mrg
    slot: cython.int[::1] = W.slot
    best: cython.int[::1] = W.best
    width: cython.Py_ssize_t = T.n_loc + 1
    n_ent: cython.Py_ssize_t = 0
    r: cython.Py_ssize_t
    e: cython.Py_ssize_t
    j: cython.Py_ssize_t
    key: cython.Py_ssize_t
    rank: cython.int
    score: cython.int
    n_sec: cython.Py_ssize_t = 0
    sec_starts: list = None
    sec_names: list = None
    quiet: list = None
    if sections is not None:
        sec_starts, sec_names = sections
        n_sec = len(sec_starts)
        quiet = [name in NON_REPORTING for name in sec_names]
    for r in range(0, W.n_rows * _ROW, _ROW):
        rank, score, j = rows[r + 2], rows[r + 2] + 10, 0
        if n_sec:
            while j + 1 < n_sec and sec_starts[j + 1] <= rows[r + 4]:
                j += 1
            if quiet[j]:  # never "present"; reporting sections win
                rank = 1 if rank == 2 else rank
                score = rank
        key = rows[r] * width + rows[r + 1] + 1
        e = slot[key]
        if e < 0:
            e = n_ent
            slot[key] = e
            n_ent += 1
            mrg[e * _MRG] = key
        elif score <= mrg[e * _MRG + 2]:
            continue
        mrg[e * _MRG + 1], mrg[e * _MRG + 2], mrg[e * _MRG + 3] = r, score, rank
        mrg[e * _MRG + 4] = j
    for e in range(0, n_ent * _MRG, _MRG):  # best score of each abnormality with a location
        key = mrg[e]
        if key % width and mrg[e + 2] > best[key // width]:
            best[key // width] = mrg[e + 2]
    out: list = []
    for e in range(0, n_ent * _MRG, _MRG):
        key, r = mrg[e], mrg[e + 1]
        if key % width or best[key // width] < mrg[e + 2]:
            s0, s1 = sentences[rows[r + 3]]
            out.append(
                (
                    T.abn_names[key // width],
                    T.loc_names[key % width - 1] if key % width else None,
                    _STATUS[mrg[e + 3]],
                    sec_names[mrg[e + 4]] if n_sec else "findings",
                    s0,
                    s1,
                    rows[r + 4],
                    rows[r + 5],
                    _cues(W, text, rows[r + 6], rows[r + 7]),
                )
            )
    for e in range(0, n_ent * _MRG, _MRG):
        slot[mrg[e]] = -1
        best[mrg[e] // width] = -1
    return out


@cython.cfunc
@cython.inline
def _rank(status: str) -> cython.Py_ssize_t:
    """The rank of a status name (absent 0, uncertain 1, present 2)."""
    if status == "present":
        return 2
    if status == "uncertain":
        return 1
    return 0


def merge(sentences: list, per_sentence: list, sections) -> list:
    """One row per (abnormality, location) of a report from its sentences' rows: the strongest
    status wins (present > uncertain > absent; the first sentence on ties); terms in
    non-reporting sections (indication, history, ...) are never "present"; an abnormality
    reported with a location drops its location-less rows of no higher status."""
    best: dict = {}
    i: cython.Py_ssize_t
    s0: cython.Py_ssize_t
    s1: cython.Py_ssize_t
    score: cython.Py_ssize_t
    if sections is None:  # no headers: every row is in "findings"
        for i in range(len(per_sentence)):
            for row in per_sentence[i]:
                old = best.get(row[0])
                if old is None or row[1] > old[0]:
                    best[row[0]] = (row[1], i, row)
        located: dict = {}
        for (abn, loc), entry in best.items():
            if loc is not None and entry[0] > located.get(abn, -1):
                located[abn] = entry[0]
        out: list = []
        for (abn, loc), (score, i, row) in best.items():
            if loc is not None or located.get(abn, -1) < score:
                s0, s1 = sentences[i]
                out.append((abn, loc, row[2], "findings", s0, s1, s0 + row[3], s0 + row[4], row[5]))
        return out
    sec_starts, sec_names = sections
    n_sec: cython.Py_ssize_t = len(sec_starts)
    j: cython.Py_ssize_t
    for i in range(len(per_sentence)):
        rows = per_sentence[i]
        if not rows:
            continue
        s0, s1 = sentences[i]
        for key, score, status, a, b, cues in rows:
            j = 0  # bisect_right(sec_starts, s0 + a) - 1, at least 0
            while j + 1 < n_sec and sec_starts[j + 1] <= s0 + a:
                j += 1
            section = sec_names[j]
            if section in NON_REPORTING:  # never "present"; reporting sections win
                if status == "present":
                    status = "uncertain"
                score = _rank(status)
            old = best.get(key)
            if old is None or score > old[0]:
                best[key] = (score, status, section, s0, s1, a, b, cues)
    located = {}
    for (abn, loc), entry in best.items():
        if loc is not None and entry[0] > located.get(abn, -1):
            located[abn] = entry[0]
    return [
        (abn, loc, status, section, s0, s1, s0 + a, s0 + b, cues)
        for (abn, loc), (score, status, section, s0, s1, a, b, cues) in best.items()
        if loc is not None or located.get(abn, -1) < score
    ]
