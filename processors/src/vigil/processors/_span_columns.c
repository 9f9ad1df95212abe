/* Span attributes as columns, read from the OTLP wire bytes of an ExportTraceServiceRequest.
 *
 * The user documentation is in span_columns.py, which wraps this module. What this file does:
 * walk the protobuf wire format of the request (resource_spans -> scope_spans -> spans ->
 * attributes) once, in C, and hand back only the attribute values whose keys were asked for, as
 * Python lists, so that the scorer's Python code runs per batch and per value of interest
 * instead of per attribute of every span.
 *
 * Protobuf semantics are followed where they decide what a reader of the decoded message sees:
 * the last occurrence of a singular scalar field wins (a span's kind, times, a KeyValue's key),
 * a singular message field given several times is merged (a KeyValue's AnyValue: the last member
 * of its oneof wins; arrays given twice are concatenated), fields with an unexpected wire type
 * are unknown fields and skipped, groups are skipped. Every read is bounds-checked: malformed
 * input raises ValueError, never reads outside the buffer.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define MAX_SLOTS 64
#define SLOTS_PER_KEY 4
#define MAX_GROUP_DEPTH 32

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_SGROUP = 3, WT_EGROUP = 4, WT_I32 = 5 };

/* --- wire primitives ------------------------------------------------------------------------ */

typedef struct {
    const uint8_t *p;
    const uint8_t *end;
} Cursor;

static inline int read_varint(Cursor *c, uint64_t *out) {
    if (c->p < c->end && !(*c->p & 0x80)) { /* nearly every tag and length: one byte */
        *out = *c->p++;
        return 0;
    }
    uint64_t value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (c->p >= c->end) return -1;
        uint8_t byte = *c->p++;
        value |= (uint64_t)(byte & 0x7f) << shift;
        if (!(byte & 0x80)) {
            *out = value;
            return 0;
        }
    }
    return -1; /* more than ten bytes */
}

static inline int read_tag(Cursor *c, uint32_t *field, int *wire_type) {
    uint64_t tag;
    if (read_varint(c, &tag) < 0) return -1;
    *field = (uint32_t)(tag >> 3);
    *wire_type = (int)(tag & 7);
    if (*field == 0 || tag >> 32) return -1;
    return 0;
}

/* A length-delimited field's content, as a cursor of its own. */
static inline int read_len(Cursor *c, Cursor *inner) {
    uint64_t len;
    if (read_varint(c, &len) < 0) return -1;
    if (len > (uint64_t)(c->end - c->p)) return -1;
    inner->p = c->p;
    inner->end = c->p + len;
    c->p += len;
    return 0;
}

static int read_fixed64(Cursor *c, uint64_t *out) {
    if (c->end - c->p < 8) return -1;
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | c->p[i];
    c->p += 8;
    *out = v;
    return 0;
}

static int skip_field(Cursor *c, uint32_t field, int wire_type, int depth) {
    uint64_t ignored;
    Cursor inner;
    switch (wire_type) {
    case WT_VARINT:
        return read_varint(c, &ignored);
    case WT_I64:
        if (c->end - c->p < 8) return -1;
        c->p += 8;
        return 0;
    case WT_LEN:
        return read_len(c, &inner);
    case WT_I32:
        if (c->end - c->p < 4) return -1;
        c->p += 4;
        return 0;
    case WT_SGROUP:
        if (depth >= MAX_GROUP_DEPTH) return -1;
        for (;;) {
            uint32_t f;
            int wt;
            if (read_tag(c, &f, &wt) < 0) return -1;
            if (wt == WT_EGROUP) return f == field ? 0 : -1;
            if (skip_field(c, f, wt, depth + 1) < 0) return -1;
        }
    default:
        return -1; /* an end-group without a start, or wire types 6 and 7 */
    }
}

/* --- AnyValue, merged over its occurrences --------------------------------------------------- */

enum { V_NONE, V_STRING, V_BOOL, V_INT, V_DOUBLE, V_BYTES, V_ARRAY, V_KVLIST };

/* The effective value of an AnyValue given as one or more wire messages. Arrays keep the
 * cursors of their ArrayValue messages (read when converted), so merging costs nothing here. */
#define MAX_ARRAY_PARTS 8
typedef struct {
    int type;
    const uint8_t *data;
    Py_ssize_t size;
    uint64_t number;
    int parts;
    Cursor array[MAX_ARRAY_PARTS];
} Value;

static int merge_any_value(Cursor c, Value *v) {
    while (c.p < c.end) {
        uint32_t field;
        int wt;
        Cursor inner;
        if (read_tag(&c, &field, &wt) < 0) return -1;
        if (wt == WT_LEN && (field == 1 || field == 5 || field == 6 || field == 7)) {
            if (read_len(&c, &inner) < 0) return -1;
            if (field == 5) {
                if (v->type != V_ARRAY) {
                    v->type = V_ARRAY;
                    v->parts = 0;
                }
                if (v->parts == MAX_ARRAY_PARTS) return -1; /* no producer splits an array this often */
                v->array[v->parts++] = inner;
            } else {
                v->type = field == 1 ? V_STRING : field == 6 ? V_KVLIST : V_BYTES;
                v->data = inner.p;
                v->size = inner.end - inner.p;
            }
        } else if ((wt == WT_VARINT && (field == 2 || field == 3)) || (wt == WT_I64 && field == 4)) {
            uint64_t n;
            if ((wt == WT_VARINT ? read_varint(&c, &n) : read_fixed64(&c, &n)) < 0) return -1;
            v->type = field == 2 ? V_BOOL : field == 3 ? V_INT : V_DOUBLE;
            v->number = n;
        } else if (skip_field(&c, field, wt, 0) < 0) {
            return -1;
        }
    }
    return 0;
}

static PyObject *scalar_object(const Value *v) {
    switch (v->type) {
    case V_STRING:
        return PyUnicode_DecodeUTF8((const char *)v->data, v->size, "surrogateescape");
    case V_BOOL:
        return PyBool_FromLong(v->number != 0);
    case V_INT:
        return PyLong_FromLongLong((long long)v->number);
    case V_DOUBLE: {
        double d;
        memcpy(&d, &v->number, sizeof d);
        return PyFloat_FromDouble(d);
    }
    case V_BYTES:
        return PyBytes_FromStringAndSize((const char *)v->data, v->size);
    default:
        Py_RETURN_NONE;
    }
}

/* An array as a tuple of its scalar elements (nested arrays and kvlists as None). */
static PyObject *array_object(const Value *v) {
    PyObject *items = PyList_New(0);
    if (items == NULL) return NULL;
    for (int part = 0; part < v->parts; part++) {
        Cursor c = v->array[part];
        while (c.p < c.end) {
            uint32_t field;
            int wt;
            Cursor inner;
            if (read_tag(&c, &field, &wt) < 0) goto malformed;
            if (field != 1 || wt != WT_LEN) {
                if (skip_field(&c, field, wt, 0) < 0) goto malformed;
                continue;
            }
            if (read_len(&c, &inner) < 0) goto malformed;
            Value element = {V_NONE};
            if (merge_any_value(inner, &element) < 0) goto malformed;
            PyObject *obj = element.type == V_ARRAY ? (Py_INCREF(Py_None), Py_None) : scalar_object(&element);
            if (obj == NULL || PyList_Append(items, obj) < 0) {
                Py_XDECREF(obj);
                Py_DECREF(items);
                return NULL;
            }
            Py_DECREF(obj);
        }
    }
    PyObject *tuple = PyList_AsTuple(items);
    Py_DECREF(items);
    return tuple;
malformed:
    Py_DECREF(items);
    PyErr_SetString(PyExc_ValueError, "malformed OTLP: bad array value");
    return NULL;
}

static PyObject *value_object(const Value *v) {
    return v->type == V_ARRAY ? array_object(v) : scalar_object(v);
}

/* --- the reader ------------------------------------------------------------------------------ */

#define RECENT 8
#define RECENT_MAX_SIZE 512

typedef struct {
    const char *key; /* owned by the reader */
    Py_ssize_t size;
    int slots[SLOTS_PER_KEY];
    int nslots;
    /* The key's latest short ASCII string values, handed out again when a value repeats (user
     * agents, routes, statements do): no new object, and its hash is already computed. */
    PyObject *recent[RECENT];
    int next;
} Entry;

typedef struct {
    PyObject_HEAD
    Entry *table; /* open addressing, power-of-two size */
    Py_ssize_t mask;
    int nslots;
    uint32_t kinds[MAX_SLOTS]; /* bit k: the slot is read on spans of kind k (31: any other) */
    int dense[MAX_SLOTS];      /* 1: one entry per span of a dense kind */
    uint32_t dense_kinds;
} Reader;

/* Keys are looked up for every attribute of every span: hash the length and the last eight
 * bytes only (where keys of one namespace differ: http.request.header.referer / ...origin);
 * equal hashes are told apart by memcmp. */
static inline uint64_t hash_key(const uint8_t *p, Py_ssize_t n) {
    uint64_t tail = 0;
    Py_ssize_t take = n < 8 ? n : 8;
    memcpy(&tail, p + n - take, take);
    return (tail ^ (uint64_t)n * 0x9E3779B97F4A7C15ULL) * 0xBF58476D1CE4E5B9ULL >> 17;
}

static inline Entry *lookup(Reader *r, const uint8_t *key, Py_ssize_t size) {
    Py_ssize_t i = (Py_ssize_t)(hash_key(key, size) & (uint64_t)r->mask);
    for (;;) {
        Entry *e = &r->table[i];
        if (e->key == NULL) return e;
        if (e->size == size && memcmp(e->key, key, size) == 0) return e;
        i = (i + 1) & r->mask;
    }
}

static void Reader_dealloc(Reader *self) {
    if (self->table != NULL) {
        for (Py_ssize_t i = 0; i <= self->mask; i++) {
            PyMem_Free((void *)self->table[i].key);
            for (int j = 0; j < RECENT; j++) Py_XDECREF(self->table[i].recent[j]);
        }
        PyMem_Free(self->table);
    }
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* Reader(slots): slots is a sequence of (keys, kinds_mask, dense) triples; slot i is the i-th. */
static int Reader_init(Reader *self, PyObject *args, PyObject *kwds) {
    PyObject *slots;
    static char *names[] = {"slots", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O", names, &slots)) return -1;
    if (self->table != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "a Reader is initialised once");
        return -1;
    }
    PyObject *seq = PySequence_Fast(slots, "slots must be a sequence");
    if (seq == NULL) return -1;
    Py_ssize_t nslots = PySequence_Fast_GET_SIZE(seq);
    if (nslots > MAX_SLOTS) {
        Py_DECREF(seq);
        PyErr_Format(PyExc_ValueError, "at most %d slots", MAX_SLOTS);
        return -1;
    }
    Py_ssize_t nkeys = 0;
    for (Py_ssize_t i = 0; i < nslots; i++) {
        PyObject *spec = PySequence_Fast_GET_ITEM(seq, i);
        PyObject *keys;
        if (!PyTuple_Check(spec) || !PyArg_ParseTuple(spec, "OIp", &keys, &self->kinds[i], &self->dense[i])) {
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "a slot is (keys, kinds_mask, dense)");
            Py_DECREF(seq);
            return -1;
        }
        Py_ssize_t n = PyObject_Length(keys);
        if (n < 0) {
            Py_DECREF(seq);
            return -1;
        }
        nkeys += n;
        if (self->dense[i]) {
            if (self->dense_kinds && self->dense_kinds != self->kinds[i]) {
                Py_DECREF(seq);
                PyErr_SetString(PyExc_ValueError, "dense slots must all read the same kinds");
                return -1;
            }
            self->dense_kinds = self->kinds[i];
        }
    }
    Py_ssize_t size = 16;
    while (size < nkeys * 4) size *= 2;
    self->table = PyMem_Calloc(size, sizeof(Entry));
    if (self->table == NULL) {
        Py_DECREF(seq);
        PyErr_NoMemory();
        return -1;
    }
    self->mask = size - 1;
    self->nslots = (int)nslots;
    for (Py_ssize_t i = 0; i < nslots; i++) {
        PyObject *keys = PyTuple_GET_ITEM(PySequence_Fast_GET_ITEM(seq, i), 0);
        PyObject *iter = PyObject_GetIter(keys);
        if (iter == NULL) goto fail;
        PyObject *key;
        while ((key = PyIter_Next(iter)) != NULL) {
            Py_ssize_t n;
            const char *utf8 = PyUnicode_Check(key) ? PyUnicode_AsUTF8AndSize(key, &n) : NULL;
            if (utf8 == NULL) {
                if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "attribute keys must be str");
                Py_DECREF(key);
                Py_DECREF(iter);
                goto fail;
            }
            Entry *e = lookup(self, (const uint8_t *)utf8, n);
            if (e->key == NULL) {
                char *copy = PyMem_Malloc(n + 1);
                if (copy == NULL) {
                    Py_DECREF(key);
                    Py_DECREF(iter);
                    PyErr_NoMemory();
                    goto fail;
                }
                memcpy(copy, utf8, n + 1);
                e->key = copy;
                e->size = n;
            }
            Py_DECREF(key);
            if (e->nslots == SLOTS_PER_KEY) {
                Py_DECREF(iter);
                PyErr_Format(PyExc_ValueError, "a key may feed at most %d slots", SLOTS_PER_KEY);
                goto fail;
            }
            e->slots[e->nslots++] = (int)i;
        }
        Py_DECREF(iter);
        if (PyErr_Occurred()) goto fail;
    }
    Py_DECREF(seq);
    return 0;
fail:
    Py_DECREF(seq);
    return -1;
}

/* A growable array of fixed-size numbers, returned as bytes (span numbers, times): cheaper than
 * a list of ints, and indexable from Python through memoryview.cast. */
typedef struct {
    char *data;
    Py_ssize_t size, capacity;
} Buffer;

static int buffer_add(Buffer *b, const void *item, Py_ssize_t size) {
    if (b->size + size > b->capacity) {
        Py_ssize_t capacity = b->capacity ? b->capacity * 2 : 1024;
        char *data = PyMem_Realloc(b->data, capacity);
        if (data == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        b->data = data;
        b->capacity = capacity;
    }
    memcpy(b->data + b->size, item, size);
    b->size += size;
    return 0;
}

static int buffer_add_index(Buffer *b, Py_ssize_t index) {
    int32_t i = (int32_t)index;
    return buffer_add(b, &i, sizeof i);
}

static PyObject *buffer_bytes(Buffer *b) {
    return PyBytes_FromStringAndSize(b->data ? b->data : "", b->size);
}

/* What one scan builds. */
typedef struct {
    Reader *reader;
    PyObject *groups; /* [(resource index, scope index, first span, span count)] */
    Buffer dense_index; /* int32 span numbers */
    Buffer times;       /* uint64 */
    PyObject *columns[MAX_SLOTS]; /* dense and sparse: the values, as a list */
    Buffer sparse_index[MAX_SLOTS];
    Py_ssize_t spans;
    PyObject *pending[MAX_SLOTS]; /* this span's value per dense slot (last occurrence wins) */
} Scan;

static int malformed(const char *what) {
    PyErr_Format(PyExc_ValueError, "malformed OTLP: bad %s", what);
    return -1;
}

static int append_new(PyObject *list, PyObject *obj) {
    if (obj == NULL) return -1;
    int rc = PyList_Append(list, obj);
    Py_DECREF(obj);
    return rc;
}

/* A string value, as one of the key's recent objects if it repeats one (new reference). */
static PyObject *recent_string(Entry *e, const Value *v) {
    if (v->size > RECENT_MAX_SIZE) return scalar_object(v);
    for (int i = 0; i < RECENT; i++) {
        PyObject *r = e->recent[i];
        if (r != NULL && PyUnicode_GET_LENGTH(r) == v->size && memcmp(PyUnicode_1BYTE_DATA(r), v->data, v->size) == 0) {
            Py_INCREF(r);
            return r;
        }
    }
    PyObject *obj = scalar_object(v);
    if (obj != NULL && PyUnicode_IS_COMPACT_ASCII(obj)) { /* then its characters are the bytes compared */
        Py_INCREF(obj);
        Py_XSETREF(e->recent[e->next], obj);
        e->next = (e->next + 1) % RECENT;
    }
    return obj;
}

static int read_attribute(Scan *s, Cursor kv, uint32_t kind_bit) {
    Reader *r = s->reader;
    const uint8_t *key = NULL;
    Py_ssize_t key_size = 0;
    Cursor c = kv;
    while (c.p < c.end) { /* the key first: it may follow the value on the wire */
        uint32_t field;
        int wt;
        Cursor inner;
        if (read_tag(&c, &field, &wt) < 0) return malformed("attribute");
        if (field == 1 && wt == WT_LEN) {
            if (read_len(&c, &inner) < 0) return malformed("attribute key");
            key = inner.p;
            key_size = inner.end - inner.p;
        } else if (skip_field(&c, field, wt, 0) < 0) {
            return malformed("attribute");
        }
    }
    if (key == NULL) return 0;
    Entry *e = lookup(r, key, key_size);
    if (e->key == NULL) return 0;
    int wanted = 0;
    for (int i = 0; i < e->nslots; i++) wanted |= (r->kinds[e->slots[i]] & kind_bit) != 0;
    if (!wanted) return 0;
    Value v = {V_NONE};
    c = kv;
    while (c.p < c.end) {
        uint32_t field;
        int wt;
        Cursor inner;
        read_tag(&c, &field, &wt); /* checked above */
        if (field == 2 && wt == WT_LEN) {
            read_len(&c, &inner);
            if (merge_any_value(inner, &v) < 0) return malformed("attribute value");
        } else {
            skip_field(&c, field, wt, 0);
        }
    }
    PyObject *obj = v.type == V_STRING ? recent_string(e, &v) : value_object(&v); /* shared by the key's slots */
    if (obj == NULL) return -1;
    for (int i = 0; i < e->nslots; i++) {
        int slot = e->slots[i];
        if (!(r->kinds[slot] & kind_bit)) continue;
        if (r->dense[slot]) {
            Py_INCREF(obj);
            Py_XSETREF(s->pending[slot], obj);
        } else if (buffer_add_index(&s->sparse_index[slot], s->spans) < 0 ||
                   PyList_Append(s->columns[slot], obj) < 0) {
            Py_DECREF(obj);
            return -1;
        }
    }
    Py_DECREF(obj);
    return 0;
}

static int read_span(Scan *s, Cursor span) {
    Reader *r = s->reader;
    int64_t kind = 0;
    uint64_t start = 0, end = 0;
    Cursor c = span;
    while (c.p < c.end) { /* kind and times first: which slots apply depends on the kind */
        uint32_t field;
        int wt;
        uint64_t n;
        if (read_tag(&c, &field, &wt) < 0) return malformed("span");
        if (field == 6 && wt == WT_VARINT) {
            if (read_varint(&c, &n) < 0) return malformed("span kind");
            kind = (int32_t)(uint32_t)n;
        } else if ((field == 7 || field == 8) && wt == WT_I64) {
            if (read_fixed64(&c, &n) < 0) return malformed("span time");
            *(field == 7 ? &start : &end) = n;
        } else if (skip_field(&c, field, wt, 0) < 0) {
            return malformed("span");
        }
    }
    uint32_t kind_bit = 1u << (kind >= 0 && kind < 31 ? kind : 31);
    c = span;
    while (c.p < c.end) {
        uint32_t field;
        int wt;
        Cursor inner;
        read_tag(&c, &field, &wt); /* checked above */
        if (field == 9 && wt == WT_LEN) {
            read_len(&c, &inner);
            if (read_attribute(s, inner, kind_bit) < 0) return -1;
        } else {
            skip_field(&c, field, wt, 0);
        }
    }
    if (r->dense_kinds & kind_bit) {
        uint64_t time = end ? end : start;
        if (buffer_add_index(&s->dense_index, s->spans) < 0 || buffer_add(&s->times, &time, sizeof time) < 0)
            return -1;
        for (int slot = 0; slot < r->nslots; slot++) {
            if (!r->dense[slot]) continue;
            PyObject *obj = s->pending[slot] ? s->pending[slot] : Py_None;
            if (PyList_Append(s->columns[slot], obj) < 0) return -1;
            Py_CLEAR(s->pending[slot]);
        }
    } else {
        for (int slot = 0; slot < r->nslots; slot++) Py_CLEAR(s->pending[slot]);
    }
    s->spans++;
    return 0;
}

/* Walks a message whose field `wanted` (length-delimited, repeated) holds the next level. */
static int read_level(Scan *s, Cursor c, int level, Py_ssize_t resource, Py_ssize_t scope) {
    static const char *what[] = {"request", "resource spans", "scope spans"};
    Py_ssize_t index = 0, first = s->spans;
    while (c.p < c.end) {
        uint32_t field;
        int wt;
        Cursor inner;
        if (read_tag(&c, &field, &wt) < 0) return malformed(what[level]);
        if (field == (level == 0 ? 1u : 2u) && wt == WT_LEN) {
            if (read_len(&c, &inner) < 0) return malformed(what[level]);
            int rc = level == 0   ? read_level(s, inner, 1, index, 0)
                     : level == 1 ? read_level(s, inner, 2, resource, index)
                                  : read_span(s, inner);
            if (rc < 0) return -1;
            index++;
        } else if (skip_field(&c, field, wt, 0) < 0) {
            return malformed(what[level]);
        }
    }
    if (level == 2) {
        PyObject *group = Py_BuildValue("(nnnn)", resource, scope, first, s->spans - first);
        if (append_new(s->groups, group) < 0) return -1;
    }
    return 0;
}

static PyObject *Reader_read(Reader *self, PyObject *arg) {
    Py_buffer buffer;
    if (PyObject_GetBuffer(arg, &buffer, PyBUF_SIMPLE) < 0) return NULL;
    Scan s;
    memset(&s, 0, sizeof s);
    s.reader = self;
    PyObject *result = NULL, *columns = NULL, *dense_index = NULL, *times = NULL;
    if ((s.groups = PyList_New(0)) == NULL) goto done;
    for (int slot = 0; slot < self->nslots; slot++)
        if ((s.columns[slot] = PyList_New(0)) == NULL) goto done;
    Cursor c = {(const uint8_t *)buffer.buf, (const uint8_t *)buffer.buf + buffer.len};
    if (read_level(&s, c, 0, 0, 0) < 0) goto done;
    if ((columns = PyTuple_New(self->nslots)) == NULL) goto done;
    for (int slot = 0; slot < self->nslots; slot++) {
        PyObject *column;
        if (self->dense[slot]) {
            column = s.columns[slot];
            Py_INCREF(column);
        } else {
            PyObject *index = buffer_bytes(&s.sparse_index[slot]);
            column = index == NULL ? NULL : PyTuple_Pack(2, index, s.columns[slot]);
            Py_XDECREF(index);
        }
        if (column == NULL) goto done;
        PyTuple_SET_ITEM(columns, slot, column);
    }
    if ((dense_index = buffer_bytes(&s.dense_index)) == NULL || (times = buffer_bytes(&s.times)) == NULL)
        goto done;
    result = Py_BuildValue("(nOOOO)", s.spans, s.groups, dense_index, times, columns);
done:
    PyBuffer_Release(&buffer);
    Py_XDECREF(columns);
    Py_XDECREF(dense_index);
    Py_XDECREF(times);
    Py_XDECREF(s.groups);
    PyMem_Free(s.dense_index.data);
    PyMem_Free(s.times.data);
    for (int slot = 0; slot < MAX_SLOTS; slot++) {
        Py_XDECREF(s.columns[slot]);
        PyMem_Free(s.sparse_index[slot].data);
        Py_XDECREF(s.pending[slot]);
    }
    return result;
}

static PyMethodDef Reader_methods[] = {
    {"read", (PyCFunction)Reader_read, METH_O,
     "read(payload) -> (spans, groups, dense_index, times, columns): see span_columns.py"},
    {NULL},
};

static PyTypeObject ReaderType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "vigil.processors._span_columns.Reader",
    .tp_basicsize = sizeof(Reader),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Reads chosen span attributes from OTLP trace requests (see span_columns.py).",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Reader_init,
    .tp_dealloc = (destructor)Reader_dealloc,
    .tp_methods = Reader_methods,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "vigil.processors._span_columns",
    .m_doc = "The C part of vigil.processors.span_columns.",
    .m_size = -1,
};

PyMODINIT_FUNC PyInit__span_columns(void) {
    if (PyType_Ready(&ReaderType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    Py_INCREF(&ReaderType);
    if (PyModule_AddObject(m, "Reader", (PyObject *)&ReaderType) < 0) {
        Py_DECREF(&ReaderType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
