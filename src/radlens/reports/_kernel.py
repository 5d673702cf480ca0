"""The labeler's hot path: scan, sentences, status, locations and the per-report merge.

Written in Cython's "pure Python mode": ``pip install -e .`` compiles this very file into the
extension ``radlens.reports._kernel_c`` (see setup.py); `radlens.reports._accel` uses it when it
was built from the current source and falls back to this module, run as plain Python, otherwise.
The type annotations and decorators are C types only when compiled; ``if cython.compiled`` marks
the few places where the compiled and the interpreted code differ in *how* (a C loop over
characters versus ``str.find`` / pyahocorasick), never in *what* they compute
(tests/test_reports_kernel.py checks both give identical rows).

Matching: every key of the vocabulary in a dense character trie; at each word start the longest
key that ends on a word boundary is taken and the scan resumes after it -- the leftmost-longest
non-overlapping matches that `radlens.reports.matcher.scan` finds with Aho-Corasick. Hits are
three int arrays (start, end, key id); per-key metadata (mask bits, cue categories per direction,
terminator counts) are int arrays indexed by key id, so the per-hit work is integer arithmetic.
"""

from __future__ import annotations

from array import array

try:
    import cython
except ImportError:  # not compiled and Cython not installed: run as plain Python
    from radlens.reports import _cyshim as cython

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
from radlens.reports.sections import _ABBREV_SET, _BOUND, _LEAD, NON_REPORTING, find_sections

#: An anchor ("heart size") takes a normal / abnormal cue at most this many words away.
ANCHOR_WORDS = 6
#: A bare side word ("right-sided", "both lungs") reaches a term at most this many words away.
SIDE_WORDS = 7
_RANK = {"absent": 0, "uncertain": 1, "present": 2}
_ANCHOR_W = cython.declare(cython.Py_ssize_t, ANCHOR_WORDS)
_SIDE_W = cython.declare(cython.Py_ssize_t, SIDE_WORDS)
_JOINERS = frozenset({"", ",", "and", ", and", "or", ", or", "/", "-", "and/or", "+", "&"})
_MAX_ABBREV = max(len(a) for a in _ABBREV_SET)

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

    ascii_cls: cython.int[:]
    other_cls: dict
    other_memo: dict
    word_hash: cython.ulonglong[:]
    word_slot: cython.int[:]
    word_off: cython.int[:]
    word_chars: cython.int[:]
    word_bits: cython.int
    trans_key: cython.longlong[:]
    trans_node: cython.int[:]
    root_node: cython.int[:]
    trans_bits: cython.int
    n_words: cython.longlong
    term: cython.int[:]
    kmask: cython.int[:]
    kcue_f: cython.int[:]
    kcue_b: cython.int[:]
    kanc_f: cython.int[:]
    kanc_b: cython.int[:]
    kstop_f: cython.int[:]
    kstop_b: cython.int[:]
    kterms: list
    kitems: list
    qkey: cython.int
    scope: cython.int
    compiled: object
    allowed: dict
    abn_info: dict
    sides: dict

    def __init__(self, compiled) -> None:
        keys, items = compiled.keys, compiled.items
        self.compiled = compiled
        self.scope = compiled.max_scope_words
        self.allowed = compiled.allowed
        vocab = compiled.vocab
        self.abn_info = {
            a.id: (
                a.requires_location,
                a.strict_location,
                a.default_location,
                dict(a.refine) if a.refine else None,
            )
            for a in vocab.abnormalities.values()
        }
        self.sides = {a.id: dict(a.sides) for a in vocab.abnormalities.values()}
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
        self.kitems = all_items
        n = len(all_items)
        kmask, kcue_f, kcue_b = _ints(n), _ints(n), _ints(n)
        kanc_f, kanc_b, kstop_f, kstop_b = _ints(n), _ints(n), _ints(n), _ints(n)
        kterms = []
        for kid, its in enumerate(all_items):
            kmask[kid] = compiled.masks[kid] if kid < len(keys) else M_CUE_B
            terms = []
            for kind, a, b in its:
                if kind in (ABN, ANCHOR):
                    terms.append((a, kind == ANCHOR))
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
            kterms.append(tuple(terms))
        self.kmask, self.kcue_f, self.kcue_b = kmask, kcue_f, kcue_b
        self.kanc_f, self.kanc_b, self.kstop_f, self.kstop_b = kanc_f, kanc_b, kstop_f, kstop_b
        self.kterms = kterms


@cython.cclass
class Hits:
    """The matches of one text: (start, end, key id) per hit in original-text offsets, the
    clause numbers the sentence logic writes, and a prefix count of spaces (compiled only)."""

    text: str
    n: cython.Py_ssize_t
    hs: cython.int[:]
    he: cython.int[:]
    hk: cython.int[:]
    cf: cython.int[:]
    cb: cython.int[:]
    sp: cython.int[:]

    def __init__(self, text: str, size: cython.Py_ssize_t) -> None:
        self.text = text
        self.n = 0
        if cython.compiled:  # one buffer, five views
            buf: cython.int[:] = _zeros(5 * size)
            self.hs, self.he, self.hk = buf[0:size], buf[size : 2 * size], buf[2 * size : 3 * size]
            self.cf, self.cb = buf[3 * size : 4 * size], buf[4 * size : 5 * size]
        else:
            self.hs, self.he, self.hk = _ints(size), _ints(size), _ints(size)
            self.cf, self.cb = _ints(size), _ints(size)


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
def _classes(T: Tables, text: str, cl: cython.int[:], sp: cython.int[:]) -> cython.Py_ssize_t:
    """Character class of each character of `text` (as `normalize` maps it) into `cl`, the
    number of spaces before each offset into `sp`; returns the number of word starts."""
    n: cython.Py_ssize_t = len(text)
    asc: cython.int[:] = T.ascii_cls
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
        for i in range(n):
            ch = norm[i]
            c = asc[ch] if ch < 128 else _other_class(T, norm[i])
            cl[i] = c
            sp[i] = k
            if text[i] == " ":
                k += 1
            if c != 0 and prev == 0:
                words += 1
            prev = c
    sp[n] = k
    return words


@cython.cfunc
@cython.boundscheck(False)
@cython.wraparound(False)
def _words(T: Tables, cl: cython.int[:], n: cython.Py_ssize_t, wd: cython.int[:]) -> cython.void:
    """Each word (maximal run of non-space classes) as (start, end, vocabulary word id or -1)."""
    word_hash: cython.ulonglong[:] = T.word_hash
    word_slot: cython.int[:] = T.word_slot
    word_off: cython.int[:] = T.word_off
    word_chars: cython.int[:] = T.word_chars
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
def _word_scan(T: Tables, wd: cython.int[:], n_words: cython.Py_ssize_t, H: Hits) -> cython.void:
    """Leftmost-longest matches over the words: from each word the longest key (a phrase of
    words one space apart) ending on a word; the scan resumes after it."""
    trans_key: cython.longlong[:] = T.trans_key
    trans_node: cython.int[:] = T.trans_node
    root_node: cython.int[:] = T.root_node
    term: cython.int[:] = T.term
    hs: cython.int[:] = H.hs
    he: cython.int[:] = H.he
    hk: cython.int[:] = H.hk
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
    H: Hits
    n: cython.Py_ssize_t = len(text)
    if cython.compiled:
        buf: cython.int[:] = _zeros(2 * n + 1)
        cl: cython.int[:] = buf[0:n]
        sp: cython.int[:] = buf[n : 2 * n + 1]
        n_words: cython.Py_ssize_t = _classes(T, text, cl, sp)
        wd: cython.int[:] = _zeros(3 * n_words + 3)
        _words(T, cl, n, wd)
        H = Hits(text, n_words + 1)
        H.sp = sp
        _word_scan(T, wd, n_words, H)
    else:
        found = scan(T.compiled, f" {normalize(text)} ")
        H = Hits(text, len(found))
        count = 0
        for start, end, kid in found:
            H.hs[count], H.he[count], H.hk[count] = start, end, kid
            count += 1
        H.n = count
    return H


def match_list(text: str, T: Tables) -> list:
    """The matches of `text` as (start, end, key id) tuples (for tests and benchmarks)."""
    H: Hits = scan_hits(text, T)
    return [(H.hs[i], H.he[i], H.hk[i]) for i in range(H.n)]


def cython_compiled() -> bool:
    """Whether this module is the Cython-compiled extension."""
    return bool(cython.compiled)


@cython.cfunc
@cython.inline
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
@cython.boundscheck(False)
@cython.wraparound(False)
def _at(text: str, bp: cython.p_char, i: cython.Py_ssize_t) -> cython.Py_UCS4:
    """text[i], read from the ASCII bytes `bp` when there are some (compiled only)."""
    if bp != cython.NULL:
        return bp[i]
    return text[i]


@cython.boundscheck(False)
@cython.wraparound(False)
def split_sentences(text: str) -> list:
    """(start, end) offsets of each sentence, stripped of surrounding white space, in order
    (the rules: `radlens.reports.sections`)."""
    out: list = []
    start: cython.Py_ssize_t = _LEAD.match(text).end()
    n: cython.Py_ssize_t = len(text)
    n2: cython.Py_ssize_t = n - 2
    last: cython.Py_ssize_t = 0
    pos: cython.Py_ssize_t
    r: cython.Py_ssize_t
    end: cython.Py_ssize_t
    ch: cython.Py_UCS4
    alpha: cython.bint
    abbrev: cython.bint
    dot: cython.bint
    bp: cython.p_char = cython.NULL
    if cython.compiled:
        if text.isascii():
            raw: bytes = text.encode("ascii")
            bp = raw
    else:
        cands = _candidates(text)
    n_cands: cython.Py_ssize_t = 0 if cython.compiled else len(cands)
    c_i: cython.Py_ssize_t = 0
    pos = -1
    while True:  # over the positions where a boundary may start, in order
        if cython.compiled:
            pos += 1
            while pos < n:
                ch = _at(text, bp, pos)
                if ch == "." or ch == "\n" or ch == "!" or ch == "?" or ch == "\u2022":
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
        ch = _at(text, bp, pos)
        if ch == "." or ch == "!" or ch == "?":
            # "[.!?]+" ends a sentence only before white space, a quote, a closing bracket or
            # the end of the text ("3.5", "e.g.,"): decided here without the regex
            r = pos + 1
            while r < n:
                ch = _at(text, bp, r)
                if not (ch == "." or ch == "!" or ch == "?"):
                    break
                r += 1
            if r < n and not (ch.isspace() or ch == '"' or ch == "'" or ch == ")" or ch == "]"):
                continue
        if cython.compiled:
            ch = _at(text, bp, pos + 2) if pos < n2 else 0
            dot = pos < n2 and _at(text, bp, pos) == "." and _at(text, bp, pos + 1) == " "
            dot = dot and not ch.isspace()
        else:
            dot = (
                pos < n2
                and text[pos] == "."
                and text[pos + 1] == " "
                and not text[pos + 2].isspace()
            )
        if dot:
            # the common ". Next" boundary, decided without the regex: a plain ASCII word before
            # the period that is not an abbreviation ends the sentence
            if cython.compiled:
                r = pos - 1
                alpha = True
                while r >= 0:
                    ch = _at(text, bp, r)
                    if ch == " ":
                        break
                    if not (("a" <= ch <= "z") or ("A" <= ch <= "Z")):
                        alpha = False
                        break
                    r -= 1
                alpha = alpha and r + 1 < pos
                abbrev = (
                    alpha
                    and pos - r - 1 <= _MAX_ABBREV
                    and text[r + 1 : pos].lower() in _ABBREV_SET
                )
            else:
                word = text[text.rfind(" ", 0, pos) + 1 : pos]
                alpha = word.isascii() and word.isalpha()
                abbrev = alpha and word.lower() in _ABBREV_SET
            if alpha:
                if not abbrev:
                    if pos + 1 > start:
                        out.append((start, pos + 1))
                    start = last = pos + 2
                continue
        m = _BOUND.match(text, pos)
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


# --- one sentence -------------------------------------------------------------------------------


def sentence_rows(sent: str, T: Tables) -> tuple:
    """Rows of one sentence scanned on its own (offsets in the sentence)."""
    H: Hits = scan_hits(sent, T)
    return tuple(_rows(H, T, 0, H.n, 0, len(sent), 0)) if H.n else ()


@cython.cfunc
def _rows(
    H: Hits,
    T: Tables,
    lo: cython.Py_ssize_t,
    hi: cython.Py_ssize_t,
    s0: cython.Py_ssize_t,
    s1: cython.Py_ssize_t,
    base: cython.Py_ssize_t,
) -> list:
    """Decisions of the sentence text[s0:s1] whose hits are lo..hi-1, as rows
    ((abnormality, location), score, status, start, end, cues) with offsets relative to `base`;
    score = rank + 10 (a reporting section)."""
    text: str = H.text
    if text.find("?", s0, s1) >= 0:
        H = _with_question_marks(H, T, lo, hi, s0, s1)
        lo, hi = 0, H.n
    units: list = [s0]
    pos: cython.Py_ssize_t = text.find(";", s0, s1)
    while pos >= 0:
        units.append(pos + 1)
        pos = text.find(";", pos + 1, s1)
    rows: list = []
    _sentence(H, T, lo, hi, units, base, rows)
    return rows


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
    if cython.compiled:
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


@cython.cfunc
@cython.boundscheck(False)
@cython.wraparound(False)
def _sentence(
    H: Hits,
    T: Tables,
    lo: cython.Py_ssize_t,
    hi: cython.Py_ssize_t,
    units: list,
    base: cython.Py_ssize_t,
    rows: list,
) -> cython.void:
    """Decide status and locations for hits lo..hi-1 of one sentence; append its rows
    ((abnormality, location), score, status, start, end, cues) to `rows` (offsets relative to
    `base`; score = status rank + 10, a reporting section).

    Scope units (semicolon clauses) and terminators split the sentence into clauses: `cf` for
    cues before a term (every terminator ends them), `cb` for cues after it (terminators with
    direction "forward", e.g. "which", do not end those)."""
    terms: list = []  # (hit index, abnormality id, is anchor)
    located: list = []  # hits carrying a location, side or sided phrase
    cf: cython.int = 0
    cb: cython.int = 0
    k: cython.Py_ssize_t
    key: cython.int
    mask: cython.int
    u: cython.Py_ssize_t
    n_units: cython.Py_ssize_t = len(units)
    several: cython.bint = n_units > 1
    unit: cython.Py_ssize_t = 0
    pos: cython.Py_ssize_t
    if several:  # bisect_right(units, start of the first hit); hits come in order
        pos = H.hs[lo]
        while unit < n_units and units[unit] <= pos:
            unit += 1
    u = unit
    for k in range(lo, hi):
        key = H.hk[k]
        mask = T.kmask[key]
        if several:
            pos = H.hs[k]
            while u < n_units and units[u] <= pos:
                u += 1
            if u != unit:
                unit = u
                cf += 1
                cb += 1
        if mask & _STOP:
            cf += T.kstop_f[key]
            cb += T.kstop_b[key]
        if mask & _TERM:
            for abn, is_anchor in T.kterms[key]:
                terms.append((k, abn, is_anchor))
        if mask & _LOCB:
            located.append(k)
        H.cf[k] = cf
        H.cb[k] = cb
    if not terms:
        return
    statuses: dict = {}
    for k, abn, is_anchor in terms:
        st = _status(H, T, lo, hi, k, is_anchor)
        if st is not None:
            statuses[(k, abn)] = st
    if not statuses:
        return
    locs: dict
    loc_hits: list
    if located:
        attached: tuple = _attach(H, T, list(statuses), located)
        locs, loc_hits = attached[0], attached[1]
    else:
        locs, loc_hits = {}, []
    start: cython.Py_ssize_t
    end: cython.Py_ssize_t
    ls: cython.Py_ssize_t
    le: cython.Py_ssize_t
    gap: cython.Py_ssize_t
    refine: dict
    for (k, abn), (status, cues) in statuses.items():
        start, end = H.hs[k], H.he[k]
        info: tuple = T.abn_info[abn]
        requires, strict, default, refine = info[0], info[1], info[2], info[3]
        found = locs.get((k, abn))
        if not found and requires:
            continue  # e.g. "increase in density" names a lung opacity only with a lung location
        if not found and strict and loc_hits:
            # a location right next to the term is one this finding cannot take ("nodule in the
            # liver", "pericardial ... effusion"): the term names something else
            near = loc_hits[0]
            for h in loc_hits:
                if abs(h[0] - k) < abs(near[0] - k):
                    near = h
            ls, le = H.hs[near[0]], H.he[near[0]]
            gap = _spaces(H, end, ls) if ls >= end else _spaces(H, le, start)
            allowed = T.allowed[abn]
            if gap <= 8 and not any(loc in allowed for loc in near[1]):
                continue
        if len(cues) > 1:
            cues = tuple(dict.fromkeys(cues))
        if not found and default is not None:
            found = (default,)
        score = _rank(status) + 10
        for loc in found or (None,):
            rows.append(
                (
                    (refine.get(loc, abn) if refine else abn, loc),
                    score,
                    status,
                    start - base,
                    end - base,
                    cues,
                )
            )


@cython.cfunc
@cython.inline
def _rank(status: str) -> cython.Py_ssize_t:
    """_RANK[status]."""
    if status == "present":
        return 2
    if status == "uncertain":
        return 1
    return 0


@cython.cfunc
@cython.boundscheck(False)
@cython.wraparound(False)
def _status(
    H: Hits,
    T: Tables,
    lo: cython.Py_ssize_t,
    hi: cython.Py_ssize_t,
    k: cython.Py_ssize_t,
    is_anchor: cython.bint,
) -> object:
    """(status, cue words) of term k, or None for an anchor without a normal/abnormal cue.

    Every cue in scope counts: negation wins over uncertainty ("no finding suggestive of X")."""
    text: str = H.text
    t_start: cython.Py_ssize_t = H.hs[k]
    t_end: cython.Py_ssize_t = H.he[k]
    scope: cython.Py_ssize_t = T.scope
    cats: cython.int = 0
    cues: list = []
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
    j = k - 1
    while j >= lo:  # cues before the term act forward
        if H.cf[j] != clause:
            break
        key = H.hk[j]
        if T.kmask[key] & _CUE_F:
            c_start, c_end = H.hs[j], H.he[j]
            gap = _spaces(H, c_end, t_start)
            if gap > scope:
                break
            if is_anchor and T.kanc_f[key] and t_start - c_end < anchor_dist and gap <= _ANCHOR_W:
                anchor_dist, anchor, anchor_a, anchor_b = (
                    t_start - c_end,
                    T.kanc_f[key],
                    c_start,
                    c_end,
                )
            if T.kcue_f[key]:
                cats |= T.kcue_f[key]
                cues.append(text[c_start:c_end])
        j -= 1
    clause = H.cb[k]
    j = k + 1
    while j < hi:  # cues after the term act backward
        if H.cb[j] != clause:
            break
        key = H.hk[j]
        if T.kmask[key] & _CUE_B:
            c_start, c_end = H.hs[j], H.he[j]
            gap = _spaces(H, t_end, c_start)
            if gap > scope:
                break
            if is_anchor and T.kanc_b[key] and c_start - t_end < anchor_dist and gap <= _ANCHOR_W:
                anchor_dist, anchor, anchor_a, anchor_b = (
                    c_start - t_end,
                    T.kanc_b[key],
                    c_start,
                    c_end,
                )
                anchor_j = j
            if T.kcue_b[key]:
                cats |= T.kcue_b[key]
                cues.append(text[c_start:c_end])
        j += 1
    if is_anchor:
        if anchor == 0:
            return None
        cues.insert(0, text[anchor_a:anchor_b])
        if anchor == A_NORMAL:
            return ("absent", tuple(cues))
        for j in range(k + 1, anchor_j):  # "heart is not enlarged": a negation in between
            if T.kmask[H.hk[j]] & _NEG:
                return ("absent", (text[H.hs[j] : H.he[j]], *cues))
    if cats & C_NEG:
        return ("absent", tuple(cues))
    if cats & C_UNC:
        return ("uncertain", tuple(cues))
    return ("present", tuple(cues))


# --- locations ----------------------------------------------------------------------------------


@cython.cfunc
def _attach(H: Hits, T: Tables, term_pos: list, located: list) -> tuple:
    """Location phrases, sided phrases and side words of a sentence -> the terms they describe:
    ({(hit index, abnormality): [location ids]}, [(hit index, location ids) attached to none]).

    A location goes to the nearest term that allows it and to the terms listed with that one
    ("consolidation and atelectasis in the left lower lobe"); a sided phrase ("lower lobes")
    takes the nearest side word; a bare side word reaches a term within SIDE_WORDS words."""
    text: str = H.text
    loc_hits: list = []  # (k, location ids, side)
    side_hits: list = []  # (k, side)
    sided: list = []  # (k, (right, left), plural)
    k: cython.Py_ssize_t
    start: cython.Py_ssize_t
    end: cython.Py_ssize_t
    for k in located:
        start, end = H.hs[k], H.he[k]
        for kind, a, b in T.kitems[H.hk[k]]:
            if kind == LOC:
                loc_hits.append((k, a, b))
            elif kind == SIDE:
                side_hits.append((k, a))
            elif kind == SIDED:
                sided.append(
                    (k, a, text[end - 1 : end] in "sS" or text[start:end].lower() == "hila")
                )
    if not (loc_hits or side_hits or sided):
        return {}, []
    if len(term_pos) == 1 and not side_hits and not sided:
        return _attach_one(H, T, term_pos, loc_hits)
    return _attach_all(H, T, term_pos, loc_hits, side_hits, sided)


@cython.cfunc
def _attach_all(
    H: Hits, T: Tables, term_pos: list, loc_hits: list, side_hits: list, sided: list
) -> tuple:
    """`_attach` in general (any terms, sided phrases, side words)."""
    allowed: dict = T.allowed
    k: cython.Py_ssize_t
    # resolve sided phrases with the nearest side word or sided location
    used_sides: set = set()
    d: cython.Py_ssize_t
    best_d: cython.Py_ssize_t = 0
    resolved: list = [(h[0], h[1]) for h in loc_hits]
    if sided:
        side_src = side_hits + [(h[0], h[2]) for h in loc_hits if h[2]]
        for k, (right, left), plural in sided:
            # the nearest (the earlier one on ties), as min(key=(distance, after)) picks it
            near = None
            for ks in side_src:
                d = abs(ks[0] - k)
                if near is None or d < best_d or (d == best_d and not ks[0] > k and near[0] > k):
                    near, best_d = ks, d
            if near is None:
                ids = (right, left) if plural else ()
            else:
                used_sides.add(near[0])
                side = near[1]
                ids = (
                    (right, left) if side == "both" else ((right,) if side == "right" else (left,))
                )
            if ids:
                resolved.append((k, ids))
    out: dict = {}
    attached: set = set()
    groups: dict = {}  # term -> the terms listed with it
    single: cython.bint = len(term_pos) == 1
    gap: cython.Py_ssize_t
    best_gap: cython.Py_ssize_t
    for k, ids in resolved:
        for loc in ids:
            if single:
                cands = term_pos if loc in allowed[term_pos[0][1]] else ()
            else:
                cands = [c for c in term_pos if loc in allowed[c[1]]]
            if not cands:
                continue
            best = cands[0]
            if len(cands) > 1:
                best_gap = _gap(H, best[0], k)
                for c in cands:
                    gap = _gap(H, c[0], k)
                    if gap < best_gap:
                        best, best_gap = c, gap
            attached.add(k)
            group = groups.get(best)
            if group is None:
                group = groups[best] = (best,) if single else _group(H, term_pos, best)
            for c in group:
                if loc in allowed[c[1]]:
                    lst = out.get(c)
                    if lst is None:
                        out[c] = [loc]
                    elif loc not in lst:
                        lst.append(loc)
    # bare side words ("right pleural effusion", "effusion on the left") go to the nearest term
    # after them (else before them) within SIDE_WORDS words, and to the terms listed with it
    for k, side in side_hits:
        if k in used_sides:
            continue
        after = [c for c in term_pos if c[0] > k]
        before = [c for c in term_pos if c[0] < k]
        target = None
        if after and _spaces(H, H.he[k], H.hs[after[0][0]]) <= _SIDE_W:
            target = after[0]
        elif before and _spaces(H, H.he[before[-1][0]], H.hs[k]) <= _SIDE_W:
            target = before[-1]
        if target is None:
            continue
        sides = ("right", "left") if side == "both" else (side,)
        for c in _group(H, term_pos, target):
            lst = out.setdefault(c, [])
            abn_sides = T.sides[c[1]]
            for s in sides:
                loc = abn_sides.get(s)
                if loc is not None and loc not in lst:
                    lst.append(loc)
            if not lst:
                del out[c]
    return out, [r for r in resolved if r[0] not in attached]


@cython.cfunc
def _attach_one(H: Hits, T: Tables, term_pos: list, loc_hits: list) -> tuple:
    """`_attach_all` for one term and plain location phrases only (the common case), with the
    same result: the term's allowed locations in order, and the location hits that gave none."""
    term: tuple = term_pos[0]
    allow = T.allowed[term[1]]
    found: list = None
    attached: list = []
    for h in loc_hits:
        for loc in h[1]:
            if loc in allow:
                attached.append(h[0])
                if found is None:
                    found = [loc]
                elif loc not in found:
                    found.append(loc)
    out: dict = {term: found} if found is not None else {}
    return out, [(h[0], h[1]) for h in loc_hits if h[0] not in attached]


@cython.cfunc
@cython.inline
def _gap(H: Hits, term_k: cython.Py_ssize_t, loc_k: cython.Py_ssize_t) -> cython.Py_ssize_t:
    if loc_k > term_k:
        return H.hs[loc_k] - H.he[term_k]
    return H.hs[term_k] - H.he[loc_k] + 6


@cython.cfunc
def _group(H: Hits, term_pos: list, member: tuple) -> list:
    """Terms listed together with `member` ("A, B and C"): they share its locations."""
    text: str = H.text
    idx: cython.Py_ssize_t = term_pos.index(member)
    n: cython.Py_ssize_t = len(term_pos)
    group: list = [member]
    i: cython.Py_ssize_t
    step: cython.Py_ssize_t
    for step in (-1, 1):
        i = idx
        while 0 <= i + step < n:
            a, b = (
                (term_pos[i], term_pos[i + step])
                if step == 1
                else (term_pos[i + step], term_pos[i])
            )
            if a[0] != b[0]:
                between = text[H.he[a[0]] : H.hs[b[0]]].strip().lower()
                if between not in _JOINERS:
                    break
            i += step
            group.append(term_pos[i])
    return group


# --- one report ---------------------------------------------------------------------------------


def report_rows(text: str, T: Tables) -> list:
    """Findings of one report as row tuples (see `radlens.reports.labeler.label_rows`) from ONE
    scan of the whole report; no memoisation."""
    if not text or text.isspace():
        return []
    sections = find_sections(text) if ":" in text else None
    sentences = split_sentences(text)
    return merge(sentences, _per_sentence(text, sentences, T), sections)


@cython.cfunc
@cython.boundscheck(False)
@cython.wraparound(False)
def _per_sentence(text: str, sentences: list, T: Tables) -> list:
    """Rows of each sentence (offsets in the sentence), each sentence taking its slice of the
    report's hits."""
    H: Hits = scan_hits(text, T)
    n: cython.Py_ssize_t = H.n
    lo: cython.Py_ssize_t = 0
    hi: cython.Py_ssize_t
    s0: cython.Py_ssize_t
    s1: cython.Py_ssize_t
    has_term: cython.bint
    out: list = []
    for s0, s1 in sentences:
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
            out.append(sentence_rows(text[s0:s1], T))
        elif has_term:
            out.append(_rows(H, T, lo, hi, s0, s1, s0))
        else:
            out.append(())
        lo = hi
    return out


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
