/* The SQL tokeniser of vigil.processors.threat.sql and its check of neighbouring tokens, in C.
 *
 * The user documentation (token letters, what the tokens mean) is in sql.py, which wraps this
 * module. What this file does: split a value into SQL tokens exactly as a regular expression
 * would, and classify them, in one pass without creating a Python object per character or per
 * match (tokenize); count the neighbouring tokens SQL would reject (bad_pairs). The Python this
 * was ported from is kept, as the reference the tests compare it with, in
 * tests/processors/threat/sql_reference.py.
 *
 * The pattern's alternatives are tried in its order at each token start, and where an
 * alternative could backtrack, the code below takes the path the regular expression engine
 * ends up on (each place says why that path is the only one). Character classes follow the
 * engine's Unicode rules: \s is Py_UNICODE_ISSPACE, \d Py_UNICODE_ISDECIMAL, \w
 * Py_UNICODE_ISALNUM or '_'; words and variables are upper-cased by str.upper (ASCII in C).
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

/* Letters of the fingerprint (see sql.py). */
enum {
    T_WORD,
    T_PUNCT,
    T_NUM,
    T_EXEC_COMMENT,
    T_COMMENT,
    T_STRING,
    T_OPEN_STRING,
    T_QUOTED_ID,
    T_VAR,
    T_OP,
    T_OTHER,
};

typedef struct {
    int kind;
    const void *data;
    Py_ssize_t n; /* the value's length once trailing whitespace and NULs are dropped */
} Text;

static inline Py_UCS4 at(const Text *t, Py_ssize_t i) {
    return i < t->n ? PyUnicode_READ(t->kind, t->data, i) : 0xFFFFFFFF;
}

static inline int is_space(Py_UCS4 c) { return c != 0xFFFFFFFF && Py_UNICODE_ISSPACE(c); }
static inline int is_decimal(Py_UCS4 c) { return c != 0xFFFFFFFF && Py_UNICODE_ISDECIMAL(c); }
static inline int is_word(Py_UCS4 c) { /* \w */
    return c == '_' || (c != 0xFFFFFFFF && Py_UNICODE_ISALNUM(c));
}
static inline int is_word_start(Py_UCS4 c) { return is_word(c) && !is_decimal(c); } /* [^\W\d] */
static inline int is_hex(Py_UCS4 c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
static inline int is_quote(Py_UCS4 c) { return c == '\'' || c == '"'; }

static Py_ssize_t skip_word_chars(const Text *t, Py_ssize_t i) { /* [\w$]* */
    Py_UCS4 c;
    while ((c = at(t, i)) == '$' || is_word(c)) i++;
    return i;
}

/* (?P<word>(?![nN]['"])[^\W\d][\w$]*(?:\.{1,2}(?:[^\W\d][\w$]*|\*))*): the end, or -1.
 * Greedy throughout and nothing follows it in the pattern, so the greedy path is the match.
 * Two dots are tried before one; after one dot of two the next character is a dot, which
 * neither a word nor '*' starts, so where two dots stand only they can succeed. */
static Py_ssize_t match_word(const Text *t, Py_ssize_t i) {
    Py_UCS4 c = at(t, i);
    if ((c == 'n' || c == 'N') && is_quote(at(t, i + 1))) return -1;
    if (!is_word_start(c)) return -1;
    i = skip_word_chars(t, i + 1);
    while (at(t, i) == '.') {
        Py_ssize_t k = i + (at(t, i + 1) == '.' ? 2 : 1);
        Py_UCS4 d = at(t, k);
        if (is_word_start(d)) {
            i = skip_word_chars(t, k + 1);
        } else if (d == '*') {
            i = k + 1;
        } else {
            break;
        }
    }
    return i;
}

static Py_ssize_t skip_decimals(const Text *t, Py_ssize_t i) {
    while (is_decimal(at(t, i))) i++;
    return i;
}

/* (?P<num>0[xX][0-9a-fA-F]+|0[bB][01]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|\\N) */
static Py_ssize_t match_num(const Text *t, Py_ssize_t i) {
    Py_UCS4 c = at(t, i), d = at(t, i + 1);
    if (c == '0' && (d == 'x' || d == 'X') && is_hex(at(t, i + 2))) {
        Py_ssize_t j = i + 3;
        while (is_hex(at(t, j))) j++;
        return j;
    }
    if (c == '0' && (d == 'b' || d == 'B') && (at(t, i + 2) == '0' || at(t, i + 2) == '1')) {
        Py_ssize_t j = i + 3;
        while (at(t, j) == '0' || at(t, j) == '1') j++;
        return j;
    }
    Py_ssize_t j;
    if (is_decimal(c)) {
        j = skip_decimals(t, i + 1);
        if (at(t, j) == '.') j = skip_decimals(t, j + 1);
    } else if (c == '.' && is_decimal(d)) {
        j = skip_decimals(t, i + 2);
    } else if (c == '\\' && d == 'N') {
        return i + 2;
    } else {
        return -1;
    }
    Py_UCS4 e = at(t, j);
    if (e == 'e' || e == 'E') { /* the exponent is taken only whole */
        Py_ssize_t k = j + 1;
        if (at(t, k) == '+' || at(t, k) == '-') k++;
        if (is_decimal(at(t, k))) return skip_decimals(t, k + 1);
    }
    return j;
}

/* Where the first comment end (a star, then a slash) starts at or after i, or -1. */
static Py_ssize_t find_comment_end(const Text *t, Py_ssize_t i) {
    for (; i + 1 < t->n; i++) {
        if (at(t, i) == '*' && at(t, i + 1) == '/') return i;
    }
    return -1;
}

/* (?P<str>[nN]?(?:'[^'\\]*(?:(?:\\.|'')[^'\\]*)*'(?!')|"...")) from the quote at i: the end,
 * or -1. The literal ends at the first quote that is neither escaped nor doubled: backtracking
 * can only end the body before a quote, a backslash or a body character, and of those only a
 * quote not followed by another one passes (?!'), which is the greedy path's own end. */
static Py_ssize_t match_string(const Text *t, Py_ssize_t i) {
    Py_UCS4 quote = at(t, i);
    for (Py_ssize_t j = i + 1; j < t->n; j++) {
        Py_UCS4 c = at(t, j);
        if (c == '\\') {
            if (j + 1 >= t->n) return -1; /* \\. needs a character after the backslash */
            j++;
        } else if (c == quote) {
            if (at(t, j + 1) != quote) return j + 1;
            j++;
        }
    }
    return -1;
}

/* (?:\s|/\*.*?\*\/)*\( matched at i with the string cut at i + 64 (re's endpos). The lazy .*?
 * backtracks to any later comment end when what follows fails, so this is reachability: a
 * space leads one character on, a comment opening to just after every later comment end. */
static int paren_ahead(const Text *t, Py_ssize_t i) {
    Py_ssize_t limit = i + 64 < t->n ? i + 64 : t->n;
    char reach[65];
    memset(reach, 0, sizeof reach);
    reach[0] = 1;
    for (Py_ssize_t p = i; p < limit; p++) {
        if (!reach[p - i]) continue;
        Py_UCS4 c = at(t, p);
        if (c == '(') return 1;
        if (is_space(c)) {
            reach[p + 1 - i] = 1;
        } else if (c == '/' && p + 1 < limit && at(t, p + 1) == '*') {
            for (Py_ssize_t q = p + 2; q + 1 < limit; q++) {
                if (at(t, q) == '*' && at(t, q + 1) == '/') reach[q + 2 - i] = 1;
            }
        }
    }
    return 0;
}

/* Which alternative matches at i (after whitespace), and where it ends. */
static int next_token(const Text *t, Py_ssize_t i, Py_ssize_t *end) {
    Py_UCS4 c = at(t, i), d = at(t, i + 1);
    Py_ssize_t j;
    if ((j = match_word(t, i)) >= 0) {
        *end = j;
        return T_WORD;
    }
    if (c == '(' || c == ')' || c == ',' || c == ';') {
        *end = i + 1;
        return T_PUNCT;
    }
    if ((j = match_num(t, i)) >= 0) {
        *end = j;
        return T_NUM;
    }
    if (c == '/' && d == '*' && at(t, i + 2) == '!') { /* /\*!\d{0,6} */
        j = i + 3;
        while (j < i + 9 && is_decimal(at(t, j))) j++;
        *end = j;
        return T_EXEC_COMMENT;
    }
    if (c == '*' && d == '/') {
        *end = i + 2;
        return T_EXEC_COMMENT;
    }
    if (c == '/' && d == '*') { /* /\*.*?(?:\*\/|\Z) */
        j = find_comment_end(t, i + 2);
        *end = j < 0 ? t->n : j + 2;
        return T_COMMENT;
    }
    if ((c == '-' && d == '-') || c == '#') { /* --[^\n]*|\#[^\n]* */
        j = i + 1;
        while (j < t->n && at(t, j) != '\n') j++;
        *end = j;
        return T_COMMENT;
    }
    Py_ssize_t q = ((c == 'n' || c == 'N') && is_quote(d)) ? i + 1 : i;
    if (is_quote(at(t, q))) {
        j = match_string(t, q);
        if (j >= 0) {
            *end = j;
            return T_STRING;
        }
        *end = t->n; /* (?P<ostr>[nN]?['"].*): left open, it runs to the end */
        return T_OPEN_STRING;
    }
    if (c == '`') { /* `[^`]*`? */
        j = i + 1;
        while (j < t->n && at(t, j) != '`') j++;
        *end = j < t->n ? j + 1 : j;
        return T_QUOTED_ID;
    }
    if (c == '[') { /* \[[^\]\s]*\] */
        j = i + 1;
        Py_UCS4 e;
        while (j < t->n && (e = at(t, j)) != ']' && !is_space(e)) j++;
        if (at(t, j) == ']') {
            *end = j + 1;
            return T_QUOTED_ID;
        }
    }
    if (c == '@') { /* @@?[\w$.]* */
        j = i + (d == '@' ? 2 : 1);
        Py_UCS4 e;
        while ((e = at(t, j)) == '$' || e == '.' || is_word(e)) j++;
        *end = j;
        return T_VAR;
    }
    if (c == '?') {
        *end = i + 1;
        return T_VAR;
    }
    if (c == '$' && is_decimal(d)) { /* \$\d+ */
        *end = skip_decimals(t, i + 2);
        return T_VAR;
    }
    if (c == ':' && ((d >= 'A' && d <= 'Z') || (d >= 'a' && d <= 'z') || d == '_')) { /* :[A-Za-z_]\w* */
        j = i + 2;
        while (is_word(at(t, j))) j++;
        *end = j;
        return T_VAR;
    }
    /* <=>|!=|<>|<=|>=|==|\|\||&&|<<|>>|:=|::|[=<>!+\-*\/%^&|~] */
    if (c == '<' && d == '=' && at(t, i + 2) == '>') {
        *end = i + 3;
        return T_OP;
    }
    if ((c == '!' && d == '=') || (c == '<' && (d == '>' || d == '=' || d == '<')) ||
        (c == '>' && (d == '=' || d == '>')) || (c == '=' && d == '=') || (c == '|' && d == '|') ||
        (c == '&' && d == '&') || (c == ':' && (d == '=' || d == ':'))) {
        *end = i + 2;
        return T_OP;
    }
    if (c < 128 && c && strchr("=<>!+-*/%^&|~", (int)c)) {
        *end = i + 1;
        return T_OP;
    }
    *end = i + 1;
    return T_OTHER;
}

/* --- the tokeniser ---------------------------------------------------------------------------- */

/* The sets Lexer(...) is given after word_types, in its argument order. */
enum {
    S_FUNCTION_KEYWORDS, /* keywords that are functions before a parenthesis */
    S_NEEDS_OPERAND,     /* bad_pairs: keywords after which an operand must come */
    S_OPWORDS,           /* bad_pairs: operators spelt as words (LIKE, IN, ...) */
    S_UNARY,             /* bad_pairs: unary operators (- + ~ ! NOT BINARY) */
    S_KEYWORD_PAIRS,     /* bad_pairs: (keyword, keyword) pairs SQL allows */
    SET_COUNT,
};
static char *ARGUMENTS[] = {"word_types", "function_keywords", "needs_operand", "opwords",
                            "unary",      "keyword_pairs",     NULL};

/* The tokens the tokeniser compares words and operators with. */
enum { W_ORDER, W_GROUP, W_SOUNDS, W_ALL, W_DISTINCT, W_BY, W_LIKE, W_AND, W_OR, WORD_COUNT };
static const char *const WORDS[WORD_COUNT] = {"ORDER", "GROUP", "SOUNDS", "ALL", "DISTINCT",
                                              "BY",    "LIKE",  "&&",     "||"};

typedef struct {
    PyObject_HEAD
    PyObject *word_types;       /* dict: upper-cased word -> its letter (a one-letter str) */
    PyObject *sets[SET_COUNT];  /* sets and frozensets, by S_... */
    PyObject *letters[128];     /* one-letter str objects by letter */
    PyObject *words[WORD_COUNT]; /* WORDS as str objects */
} Lexer;

/* text[start:end] upper-cased as str.upper does. */
static PyObject *upper(PyObject *text, const Text *t, Py_ssize_t start, Py_ssize_t end) {
    if (PyUnicode_IS_ASCII(text)) {
        PyObject *out = PyUnicode_New(end - start, 127);
        if (out == NULL) return NULL;
        const Py_UCS1 *src = PyUnicode_1BYTE_DATA(text) + start;
        Py_UCS1 *dst = PyUnicode_1BYTE_DATA(out);
        for (Py_ssize_t k = 0; k < end - start; k++) {
            Py_UCS1 ch = src[k];
            dst[k] = (ch >= 'a' && ch <= 'z') ? (Py_UCS1)(ch - 32) : ch;
        }
        return out;
    }
    PyObject *part = PyUnicode_Substring(text, start, end);
    if (part == NULL) return NULL;
    PyObject *out = PyObject_CallMethod(part, "upper", NULL);
    Py_DECREF(part);
    return out;
}

typedef struct {
    char *types;
    Py_ssize_t count;
    PyObject *texts;
} Tokens;

static int add(Tokens *tokens, char letter, PyObject *text /* stolen */) {
    if (text == NULL) return -1;
    tokens->types[tokens->count++] = letter;
    int failed = PyList_Append(tokens->texts, text);
    Py_DECREF(text);
    return failed;
}

static inline char last_type(const Tokens *tokens) {
    return tokens->count ? tokens->types[tokens->count - 1] : 0;
}

static PyObject *last_text(const Tokens *tokens) {
    return PyList_GET_ITEM(tokens->texts, tokens->count - 1);
}

static int equal(PyObject *a, PyObject *b) { return PyUnicode_Compare(a, b) == 0; }

/* A word token: its letter, BY / LIKE / ALL merged into the token before, "f" before '('. */
static int add_word(Lexer *self, Tokens *tokens, PyObject *text, const Text *t, Py_ssize_t start,
                    Py_ssize_t end) {
    PyObject *word = upper(text, t, start, end);
    if (word == NULL) return -1;
    PyObject *found = PyDict_GetItemWithError(self->word_types, word);
    if (found == NULL && PyErr_Occurred()) goto error;
    char letter = 'b';
    if (found != NULL) {
        if (!PyUnicode_Check(found) || PyUnicode_GET_LENGTH(found) != 1 ||
            PyUnicode_READ_CHAR(found, 0) >= 128) {
            PyErr_SetString(PyExc_TypeError, "word types must be one ASCII letter");
            goto error;
        }
        letter = (char)PyUnicode_READ_CHAR(found, 0);
    }
    char prev = last_type(tokens);
    if (prev == 'b' && equal(word, self->words[W_BY]) &&
        (equal(last_text(tokens), self->words[W_ORDER]) || equal(last_text(tokens), self->words[W_GROUP]))) {
        tokens->types[tokens->count - 1] = 'B';
        Py_DECREF(word);
        return 0;
    }
    if (prev == 'b' && equal(word, self->words[W_LIKE]) && equal(last_text(tokens), self->words[W_SOUNDS])) {
        tokens->types[tokens->count - 1] = 'o';
        Py_DECREF(word);
        return 0;
    }
    if (prev == 'U' && (equal(word, self->words[W_ALL]) || equal(word, self->words[W_DISTINCT]))) {
        Py_DECREF(word);
        return 0;
    }
    int function = letter == 'b' || letter == 'v';
    if (!function) {
        function = PySet_Contains(self->sets[S_FUNCTION_KEYWORDS], word);
        if (function < 0) goto error;
    }
    if (function) {
        Py_UCS4 following = at(t, end);
        if (following == '(' ||
            ((following == ' ' || (following >= '\t' && following <= '\r') || following == '/') &&
             paren_ahead(t, end))) {
            letter = 'f';
        }
    }
    return add(tokens, letter, word);
error:
    Py_DECREF(word);
    return -1;
}

/* text[start:end] without the characters of `[] at either end, upper-cased (a quoted name). */
static PyObject *quoted_id(PyObject *text, const Text *t, Py_ssize_t start, Py_ssize_t end) {
    Py_UCS4 c;
    while (start < end && ((c = at(t, start)) == '`' || c == '[' || c == ']')) start++;
    while (end > start && ((c = at(t, end - 1)) == '`' || c == '[' || c == ']')) end--;
    return upper(text, t, start, end);
}

static PyObject *Lexer_tokenize(Lexer *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2 || !PyUnicode_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "tokenize(text: str, limit: int)");
        return NULL;
    }
    if (self->word_types == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "Lexer.__init__ was not called");
        return NULL;
    }
    PyObject *text = args[0];
    Py_ssize_t limit = PyLong_AsSsize_t(args[1]);
    if (limit == -1 && PyErr_Occurred()) return NULL;
    if (limit < 1) limit = 1; /* as the pattern loop: one token is read before the limit is checked */
    Text t = {PyUnicode_KIND(text), PyUnicode_DATA(text), PyUnicode_GET_LENGTH(text)};
    /* text.rstrip(), then while it ends in NUL: rstrip NULs and whitespace */
    for (;;) {
        while (t.n > 0 && is_space(at(&t, t.n - 1))) t.n--;
        if (t.n == 0 || at(&t, t.n - 1) != 0) break;
        while (t.n > 0 && at(&t, t.n - 1) == 0) t.n--;
    }
    Py_ssize_t capacity = limit < t.n + 1 ? limit + 1 : t.n + 2; /* + the trailing comment */
    Tokens tokens = {PyMem_Malloc(capacity), 0, PyList_New(0)};
    Py_ssize_t comment_start = -1, comment_end = -1;
    int evasion = 0;
    if (tokens.types == NULL || tokens.texts == NULL) {
        PyErr_NoMemory();
        goto error;
    }
    Py_ssize_t i = 0;
    while (i < t.n) {
        Py_UCS4 c;
        while (i < t.n && ((c = at(&t, i)) == 0 || is_space(c))) i++;
        if (i >= t.n) break; /* cannot happen after the strip; kept for safety */
        Py_ssize_t end;
        int kind = next_token(&t, i, &end);
        Py_ssize_t start = i;
        i = end;
        if (kind == T_EXEC_COMMENT) continue;
        if (kind == T_COMMENT) {
            comment_start = start;
            comment_end = end;
            continue;
        }
        if (comment_start >= 0) {
            evasion = tokens.count > 0; /* a comment between two tokens: used as whitespace */
            comment_start = -1;
        }
        int failed;
        switch (kind) {
        case T_WORD:
            failed = add_word(self, &tokens, text, &t, start, end);
            break;
        case T_PUNCT: {
            char letter = (char)at(&t, start);
            PyObject *same = self->letters[(int)letter];
            Py_INCREF(same);
            failed = add(&tokens, letter, same);
            break;
        }
        case T_OP: {
            PyObject *op = PyUnicode_Substring(text, start, end);
            char letter = 'o';
            if (op != NULL && (equal(op, self->words[W_AND]) || equal(op, self->words[W_OR]))) letter = '&';
            failed = add(&tokens, letter, op);
            break;
        }
        case T_NUM:
            failed = add(&tokens, 'n', upper(text, &t, start, end));
            break;
        case T_STRING: {
            Py_UCS4 first = at(&t, start);
            Py_ssize_t from = (first == 'n' || first == 'N') ? start + 2 : start + 1;
            failed = add(&tokens, 's', PyUnicode_Substring(text, from, end - 1));
            break;
        }
        case T_OPEN_STRING: {
            Py_UCS4 first = at(&t, start);
            /* with its opening quote: only a same-quote literal is closed by the app */
            Py_ssize_t from = (first == 'n' || first == 'N') ? start + 1 : start;
            failed = add(&tokens, 'z', PyUnicode_Substring(text, from, end));
            break;
        }
        case T_VAR:
            failed = add(&tokens, 'v', upper(text, &t, start, end));
            break;
        case T_QUOTED_ID:
            failed = add(&tokens, 'b', quoted_id(text, &t, start, end));
            break;
        default:
            failed = add(&tokens, 'x', PyUnicode_Substring(text, start, end));
        }
        if (failed) goto error;
        if (tokens.count >= limit) break;
    }
    if (comment_start >= 0) {
        if (add(&tokens, 'c', PyUnicode_Substring(text, comment_start, comment_end))) goto error;
    }
    if (evasion) {
        evasion = memchr(tokens.types, 'U', tokens.count) || memchr(tokens.types, 'E', tokens.count) ||
                  memchr(tokens.types, '&', tokens.count) || memchr(tokens.types, 'B', tokens.count);
    }
    PyObject *types = PyUnicode_FromStringAndSize(tokens.types, tokens.count);
    PyMem_Free(tokens.types);
    if (types == NULL) {
        Py_DECREF(tokens.texts);
        return NULL;
    }
    return Py_BuildValue("(NNO)", types, tokens.texts, evasion ? Py_True : Py_False);
error:
    PyMem_Free(tokens.types);
    Py_XDECREF(tokens.texts);
    return NULL;
}

/* --- bad neighbour pairs ----------------------------------------------------------------------- */

/* Letter c is one of those of set (c is never NUL: token letters are printable). */
static inline int one_of(char c, const char *set) { return strchr(set, c) != NULL; }

static inline int text_is(PyObject *texts, Py_ssize_t i, const char *word) {
    return PyUnicode_CompareWithASCIIString(PyList_GET_ITEM(texts, i), word) == 0;
}

/* texts[i] in set (-1 on error) */
static inline int text_in(PyObject *set, PyObject *texts, Py_ssize_t i) {
    return PySet_Contains(set, PyList_GET_ITEM(texts, i));
}

/* Tokens i and i + 1 are a table or column and its alias: FROM users u, (SELECT ...) x. */
static int alias(const char *types, Py_ssize_t n, PyObject *texts, Py_ssize_t i) {
    if (types[i + 1] != 'b') return 0;
    if (i + 2 < n && !one_of(types[i + 2], ",)kBU;c&o")) return 0;
    if (types[i] == ')') return 1;
    if (one_of(types[i], "bnsf") && i > 0) {
        char before = types[i - 1];
        return before == ',' ||
               (one_of(before, "kE(") &&
                (text_is(texts, i - 1, "FROM") || text_is(texts, i - 1, "JOIN") ||
                 text_is(texts, i - 1, "SELECT") || text_is(texts, i - 1, "(") ||
                 text_is(texts, i - 1, "DISTINCT") || text_is(texts, i - 1, "TOP")));
    }
    return 0;
}

/* Whether tokens i and i + 1 cannot follow each other in SQL: 1, 0, or -1 on error. */
static int bad_pair(Lexer *self, const char *types, Py_ssize_t n, PyObject *texts, Py_ssize_t i) {
    char a = types[i], b = types[i + 1];
    int found;
    if (a == 'x' || b == 'x') return 1;
    if (i > 0 && types[i - 1] == 'E' && (a == 'v' || a == 'b') &&
        (text_is(texts, i - 1, "DECLARE") || text_is(texts, i - 1, "EXEC") ||
         text_is(texts, i - 1, "EXECUTE"))) {
        return b == ')' || b == 'x'; /* DECLARE @x varchar(10), EXEC sp_name @arg = 1 */
    }
    int operand = one_of(a, "nszvb)");
    if (!operand && a == 'k') {
        if ((found = text_in(self->sets[S_NEEDS_OPERAND], texts, i)) < 0) return -1;
        operand = !found;
    }
    if (operand) {
        if (one_of(b, "nvbfz")) return !((a == 's' && b == 'z') || alias(types, n, texts, i));
        if (b == 's') return a != 's';
        if (b == '(') return 1;
        if (b == 'E') {
            return a != ')' && !(text_is(texts, i + 1, "WAITFOR") || text_is(texts, i + 1, "EXEC") ||
                                 text_is(texts, i + 1, "EXECUTE") || text_is(texts, i + 1, "DECLARE"));
        }
        if (b == 'o' && (text_is(texts, i + 1, "NOT") || text_is(texts, i + 1, "~") ||
                         text_is(texts, i + 1, "!"))) {
            if (i + 2 >= n) return 1; /* "" is no operator word */
            if ((found = text_in(self->sets[S_OPWORDS], texts, i + 2)) < 0) return -1;
            return !found;
        }
        return 0;
    }
    if (a == 'f') return b != '(';
    if (a == 'c') return 1;
    if (a == ';') return one_of(b, "),;");
    if (a == '(') {
        if (one_of(b, ",;")) return 1;
        if (b != 'o') return 0;
        if ((found = text_in(self->sets[S_UNARY], texts, i + 1)) < 0) return -1;
        return !found && !text_is(texts, i + 1, "*");
    }
    if (a == 'E') {
        return one_of(b, ",;)") && !(text_is(texts, i, "SHUTDOWN") || text_is(texts, i, "BEGIN"));
    }
    if (a == 'U') return !one_of(b, "E(c");
    /* a is an operator, logic, comma, clause or a keyword that needs an operand */
    if (one_of(b, "nszvbf(")) return 0;
    if (b == 'o') {
        if ((found = text_in(self->sets[S_UNARY], texts, i + 1)) < 0) return -1;
        if (found) return 0;
        if (a != 'o') return 1;
        if ((found = text_in(self->sets[S_OPWORDS], texts, i + 1)) < 0) return -1;
        return !found;
    }
    if (b == 'E') return !one_of(a, "(,;Uk&o");
    if (b == 'k') {
        if (a == 'E') return 0;
        PyObject *pair = PyTuple_Pack(2, PyList_GET_ITEM(texts, i), PyList_GET_ITEM(texts, i + 1));
        if (pair == NULL) return -1;
        found = PySet_Contains(self->sets[S_KEYWORD_PAIRS], pair);
        Py_DECREF(pair);
        return found < 0 ? -1 : !found;
    }
    if (a == 'o' && text_is(texts, i, "*")) return !one_of(b, "),kBc;&U");
    return 1;
}

/* bad_pairs(types, texts) -> [0, bad(0), bad(0) + bad(1), ...]: the running count of bad pairs
 * (i, i + 1), so that the count over any range is a difference of two entries. */
static PyObject *Lexer_bad_pairs(Lexer *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2 || !PyUnicode_Check(args[0]) || !PyList_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "bad_pairs(types: str, texts: list[str])");
        return NULL;
    }
    if (self->sets[S_KEYWORD_PAIRS] == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "Lexer.__init__ was not called");
        return NULL;
    }
    Py_ssize_t n;
    const char *types = PyUnicode_AsUTF8AndSize(args[0], &n);
    if (types == NULL) return NULL;
    PyObject *texts = args[1];
    if (!PyUnicode_IS_ASCII(args[0]) || PyList_GET_SIZE(texts) < n) {
        PyErr_SetString(PyExc_ValueError, "types must be ASCII letters, one per text");
        return NULL;
    }
    for (Py_ssize_t k = 0; k < n; k++) {
        if (!PyUnicode_Check(PyList_GET_ITEM(texts, k))) {
            PyErr_SetString(PyExc_TypeError, "texts must be str");
            return NULL;
        }
    }
    PyObject *prefix = PyList_New(n > 0 ? n : 1);
    if (prefix == NULL) return NULL;
    long total = 0;
    PyList_SET_ITEM(prefix, 0, PyLong_FromLong(0));
    for (Py_ssize_t i = 0; i + 1 < n; i++) {
        int bad = bad_pair(self, types, n, texts, i);
        if (bad < 0) goto error;
        total += bad;
        PyObject *count = PyLong_FromLong(total);
        if (count == NULL) goto error;
        PyList_SET_ITEM(prefix, i + 1, count);
    }
    return prefix;
error:
    Py_DECREF(prefix);
    return NULL;
}

/* --- the type ------------------------------------------------------------------------------- */

static int Lexer_init(Lexer *self, PyObject *args, PyObject *kwds) {
    PyObject *word_types, *sets[SET_COUNT];
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O!OOOOO", ARGUMENTS, &PyDict_Type, &word_types,
                                     &sets[0], &sets[1], &sets[2], &sets[3], &sets[4]))
        return -1;
    for (int k = 0; k < SET_COUNT; k++) {
        if (!PyAnySet_Check(sets[k])) {
            PyErr_Format(PyExc_TypeError, "%s must be a set or frozenset", ARGUMENTS[k + 1]);
            return -1;
        }
    }
    Py_INCREF(word_types);
    Py_XSETREF(self->word_types, word_types);
    for (int k = 0; k < SET_COUNT; k++) {
        Py_INCREF(sets[k]);
        Py_XSETREF(self->sets[k], sets[k]);
    }
    for (int c = 1; c < 128; c++) {
        if (self->letters[c] == NULL) {
            char one = (char)c;
            self->letters[c] = PyUnicode_FromStringAndSize(&one, 1);
            if (self->letters[c] == NULL) return -1;
        }
    }
    for (int w = 0; w < WORD_COUNT; w++) {
        if (self->words[w] == NULL && (self->words[w] = PyUnicode_InternFromString(WORDS[w])) == NULL) {
            return -1;
        }
    }
    return 0;
}

static void Lexer_dealloc(Lexer *self) {
    Py_XDECREF(self->word_types);
    for (int k = 0; k < SET_COUNT; k++) Py_XDECREF(self->sets[k]);
    for (int c = 0; c < 128; c++) Py_XDECREF(self->letters[c]);
    for (int w = 0; w < WORD_COUNT; w++) Py_XDECREF(self->words[w]);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef Lexer_methods[] = {
    {"tokenize", (PyCFunction)(void (*)(void))Lexer_tokenize, METH_FASTCALL,
     "tokenize(text, limit) -> (types, texts, evasion): see sql.tokenize"},
    {"bad_pairs", (PyCFunction)(void (*)(void))Lexer_bad_pairs, METH_FASTCALL,
     "bad_pairs(types, texts) -> running counts of bad neighbour pairs: see sql._BadPairs"},
    {NULL},
};

static PyTypeObject LexerType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "vigil.processors.threat._sql_lexer.Lexer",
    .tp_basicsize = sizeof(Lexer),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Lexer(word_types, function_keywords, needs_operand, opwords, unary, keyword_pairs):"
              " the SQL tokeniser of sql.py and its check of neighbouring tokens.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Lexer_init,
    .tp_dealloc = (destructor)Lexer_dealloc,
    .tp_methods = Lexer_methods,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "vigil.processors.threat._sql_lexer",
    .m_doc = "The C part of vigil.processors.threat.sql's tokeniser.",
    .m_size = -1,
};

PyMODINIT_FUNC PyInit__sql_lexer(void) {
    if (PyType_Ready(&LexerType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    Py_INCREF(&LexerType);
    if (PyModule_AddObject(m, "Lexer", (PyObject *)&LexerType) < 0) {
        Py_DECREF(&LexerType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
