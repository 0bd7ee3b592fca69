/* The reader's fast path: `parse_tree` for a well-formed text, in C.
 *
 * `parse(text)` builds the same tree as `reader._parse_tree(text, lazy=False)`:
 * the same `Field` nodes with the same offsets, flags, `Scalar` values and
 * children. It knows no errors: on anything the tokenizer or the parser would
 * refuse (and on any text holding a byte that is not UTF-8) it returns None,
 * and the Python reader reads the text again, so every error keeps its message,
 * offset and code. Tokens and grammar follow upgrade_tool/reader.py, which is
 * the specification; bench/reader_diff.py and tests/test_fastread.py compare the
 * two over both corpora and generated and mutated texts.
 *
 * `setup(Field, Scalar)` is called once by the reader with its two node classes.
 * Building the extension is optional: without a compiler the Python reader
 * reads everything (pyproject.toml, README "Speed").
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

/* Token kinds besides the symbols, which are their own character. */
enum { TOK_END = 1, TOK_IDENT = 2, TOK_NUMBER = 3, TOK_STRING = 4, TOK_BAD = 5 };

typedef struct {
    int kind;
    Py_ssize_t start, end;
} Token;

typedef struct {
    int ukind;
    const void *data;
    Py_ssize_t length;
    Py_ssize_t position;
} Text;

/* The node classes and where each slot of a Field lives. */
static PyTypeObject *field_type;
static PyTypeObject *scalar_type;
enum { S_NAME, S_START, S_END, S_STOP, S_CHILDREN, S_VALUES, S_OPEN, S_CLOSE, S_IN_LIST, S_COLON, S_COUNT };
static const char *const slot_names[S_COUNT] = {"name", "start", "end", "stop", "children",
                                                "values", "open", "close", "in_list", "colon"};
static Py_ssize_t slot_offset[S_COUNT];
static PyObject *kind_number, *kind_ident, *kind_string, *empty_tuple, *minus_one, *unknown_value, *repeated_key;

/* Whether the reader has given its node classes (`setup`); if not, a RuntimeError is set. */
static int set_up(void) {
    if (field_type == NULL) PyErr_SetString(PyExc_RuntimeError, "setup(Field, Scalar) was not called");
    return field_type != NULL;
}

#define AT(t, i) ((i) < (t)->length ? PyUnicode_READ((t)->ukind, (t)->data, (i)) : 0)
#define IS_DIGIT(c) ((c) >= '0' && (c) <= '9')
#define IS_LETTER(c) (((c) >= 'A' && (c) <= 'Z') || ((c) >= 'a' && (c) <= 'z') || (c) == '_')
#define IS_WORD(c) (IS_LETTER(c) || IS_DIGIT(c))
#define IS_HEX(c) (IS_DIGIT(c) || ((c) >= 'a' && (c) <= 'f') || ((c) >= 'A' && (c) <= 'F'))
#define ENDS_NUMBER(t, i) ((i) >= (t)->length || !(IS_WORD(AT(t, i)) || AT(t, i) == '.'))

static void skip_spaces(Text *t) {
    Py_ssize_t i = t->position;
    while (i < t->length) {
        Py_UCS4 c = AT(t, i);
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f') {
            i++;
        } else if (c == '#') { /* a comment ends at a newline or a NUL */
            i++;
            while (i < t->length && AT(t, i) != '\n' && AT(t, i) != 0) i++;
        } else {
            break;
        }
    }
    t->position = i;
}

/* The end of the number at `i`, or -1: the reader's `_NUMBER`, its three forms tried in order,
 * each followed by no word character and no '.'. */
static Py_ssize_t scan_number(Text *t, Py_ssize_t i) {
    Py_UCS4 c = AT(t, i);
    Py_ssize_t p = i;
    if (IS_DIGIT(c)) {
        p = i + 1;
        if (c != '0')
            while (IS_DIGIT(AT(t, p))) p++;
        if (AT(t, p) == '.') {
            p++;
            while (IS_DIGIT(AT(t, p))) p++;
        }
    } else { /* '.' and a digit */
        p = i + 1;
        while (IS_DIGIT(AT(t, p))) p++;
    }
    if (AT(t, p) == 'e' || AT(t, p) == 'E') {
        Py_ssize_t q = p + 1;
        if (AT(t, q) == '+' || AT(t, q) == '-') q++;
        if (IS_DIGIT(AT(t, q))) {
            while (IS_DIGIT(AT(t, q))) q++;
            p = q;
        }
    }
    if (AT(t, p) == 'f' || AT(t, p) == 'F') p++;
    if (ENDS_NUMBER(t, p)) return p;
    if (c != '0') return -1;
    if ((AT(t, i + 1) == 'x' || AT(t, i + 1) == 'X') && IS_HEX(AT(t, i + 2))) {
        p = i + 2;
        while (IS_HEX(AT(t, p))) p++;
        if (ENDS_NUMBER(t, p)) return p;
    }
    if (AT(t, i + 1) >= '0' && AT(t, i + 1) <= '7') {
        p = i + 1;
        while (AT(t, p) >= '0' && AT(t, p) <= '7') p++;
        if (ENDS_NUMBER(t, p)) return p;
    }
    return -1;
}

/* The end of the quoted string at `i`, or -1 where it does not end on its line. */
static Py_ssize_t scan_string(Text *t, Py_ssize_t i) {
    Py_UCS4 quote = AT(t, i);
    Py_ssize_t p = i + 1;
    while (p < t->length) {
        Py_UCS4 c = AT(t, p);
        if (c == quote) return p + 1;
        if (c == '\n' || c == 0) return -1;
        if (c == '\\') {
            if (p + 1 >= t->length) return -1;
            Py_UCS4 escaped = AT(t, p + 1);
            if (escaped == '\n' || escaped == 0) return -1;
            p += 2;
        } else {
            p++;
        }
    }
    return -1;
}

static Token next_token(Text *t) {
    Token token;
    skip_spaces(t);
    Py_ssize_t i = t->position;
    token.start = i;
    if (i >= t->length) {
        token.kind = TOK_END;
        token.end = i;
        return token;
    }
    Py_UCS4 c = AT(t, i);
    Py_ssize_t end = -1;
    if (IS_LETTER(c)) {
        end = i + 1;
        while (IS_WORD(AT(t, end))) end++;
        token.kind = TOK_IDENT;
    } else if (IS_DIGIT(c) || (c == '.' && IS_DIGIT(AT(t, i + 1)))) {
        end = scan_number(t, i);
        token.kind = TOK_NUMBER;
    } else if (c == '"' || c == '\'') {
        end = scan_string(t, i);
        token.kind = TOK_STRING;
    } else if (c == '{' || c == '}' || c == '<' || c == '>' || c == '[' || c == ']' || c == ':' || c == ';' ||
               c == ',' || c == '-') {
        end = i + 1;
        token.kind = (int)c;
    }
    if (end < 0) {
        token.kind = TOK_BAD;
        end = i;
    }
    token.end = end;
    t->position = end;
    return token;
}

/* Nodes. Each setter takes the reference it is given. */

static int set_slot(PyObject *node, int slot, PyObject *value) {
    if (value == NULL) return -1;
    PyObject **place = (PyObject **)((char *)node + slot_offset[slot]);
    PyObject *old = *place;
    *place = value;
    Py_XDECREF(old);
    return 0;
}

/* A slot's value (borrowed). */
static PyObject *slot(PyObject *node, int which) { return *(PyObject **)((char *)node + slot_offset[which]); }

static int set_offset(PyObject *node, int slot, Py_ssize_t offset) {
    return set_slot(node, slot, PyLong_FromSsize_t(offset));
}

static int set_flag(PyObject *node, int slot) { return set_slot(node, slot, Py_NewRef(Py_True)); }

/* A new Field as `Field(name, start)` makes it. */
static PyObject *new_field(PyObject *name, Py_ssize_t start) {
    PyObject *node = field_type->tp_alloc(field_type, 0);
    if (node == NULL) return NULL;
    PyObject *at = PyLong_FromSsize_t(start);
    if (at == NULL) {
        Py_DECREF(node);
        return NULL;
    }
    set_slot(node, S_NAME, Py_NewRef(name));
    set_slot(node, S_START, Py_NewRef(at));
    set_slot(node, S_END, Py_NewRef(at));
    set_slot(node, S_STOP, at);
    set_slot(node, S_CHILDREN, Py_NewRef(Py_None));
    set_slot(node, S_VALUES, Py_NewRef(Py_None));
    set_slot(node, S_OPEN, Py_NewRef(minus_one));
    set_slot(node, S_CLOSE, Py_NewRef(minus_one));
    set_slot(node, S_IN_LIST, Py_NewRef(Py_False));
    set_slot(node, S_COLON, Py_NewRef(Py_False));
    return node;
}

static PyObject *new_pair(Py_ssize_t start, Py_ssize_t end) { return Py_BuildValue("(nn)", start, end); }

/* Scalar(kind, start, end, token, pieces), made as tuple.__new__ makes it. */
static PyObject *new_scalar(PyObject *kind, Py_ssize_t start, Py_ssize_t end, Py_ssize_t token, PyObject *pieces) {
    if (pieces == NULL) return NULL;
    PyObject *scalar = scalar_type->tp_alloc(scalar_type, 5);
    PyObject *numbers[3] = {PyLong_FromSsize_t(start), PyLong_FromSsize_t(end), PyLong_FromSsize_t(token)};
    if (scalar == NULL || numbers[0] == NULL || numbers[1] == NULL || numbers[2] == NULL) {
        Py_XDECREF(scalar);
        Py_XDECREF(numbers[0]);
        Py_XDECREF(numbers[1]);
        Py_XDECREF(numbers[2]);
        Py_DECREF(pieces);
        return NULL;
    }
    PyTuple_SET_ITEM(scalar, 0, Py_NewRef(kind));
    PyTuple_SET_ITEM(scalar, 1, numbers[0]);
    PyTuple_SET_ITEM(scalar, 2, numbers[1]);
    PyTuple_SET_ITEM(scalar, 3, numbers[2]);
    PyTuple_SET_ITEM(scalar, 4, pieces);
    return scalar;
}

/* The parser. Its functions return 1 on success, 0 where the text is not well-formed (the Python
 * reader then reads it, for the error), -1 with a Python exception set (out of memory). */

typedef struct {
    Text text;
    Token token;
    PyObject *source; /* the text, as the str the names are cut from */
    PyObject *names;  /* one string per field name */
} Parser;

static void advance(Parser *p) { p->token = next_token(&p->text); }

/* One value from the current token on, into *scalar; the parser is left on the token after it. */
static int parse_scalar(Parser *p, PyObject **scalar) {
    Token first = p->token;
    if (first.kind == TOK_STRING) {
        PyObject *pieces = PyList_New(0);
        if (pieces == NULL) return -1;
        Py_ssize_t last_end = first.end;
        while (p->token.kind == TOK_STRING) {
            PyObject *pair = new_pair(p->token.start, p->token.end);
            if (pair == NULL || PyList_Append(pieces, pair) < 0) {
                Py_XDECREF(pair);
                Py_DECREF(pieces);
                return -1;
            }
            Py_DECREF(pair);
            last_end = p->token.end;
            advance(p);
        }
        PyObject *tuple = PyList_AsTuple(pieces);
        Py_DECREF(pieces);
        *scalar = new_scalar(kind_string, first.start, last_end, first.start, tuple);
        return *scalar == NULL ? -1 : 1;
    }
    if (first.kind == '-') advance(p);
    Token value = p->token;
    if (value.kind != TOK_NUMBER && value.kind != TOK_IDENT) return 0;
    PyObject *kind = value.kind == TOK_NUMBER ? kind_number : kind_ident;
    *scalar = new_scalar(kind, first.start, value.end, value.start, Py_NewRef(empty_tuple));
    if (*scalar == NULL) return -1;
    advance(p);
    return 1;
}

/* A trailing ',' or ';' belongs to the field: its `stop` covers it. */
static int take_separator(Parser *p, PyObject *field) {
    if (p->token.kind == ',' || p->token.kind == ';') {
        if (set_offset(field, S_STOP, p->token.end) < 0) return -1;
        advance(p);
    }
    return 1;
}

/* `name: [a, b]` from the token after '[' on. */
static int parse_scalar_list(Parser *p, PyObject *field) {
    PyObject *values = PyList_New(0);
    if (values == NULL) return -1;
    int ok = 1;
    if (p->token.kind != ']') {
        while (1) {
            PyObject *scalar = NULL;
            ok = parse_scalar(p, &scalar);
            if (ok <= 0) break;
            int appended = PyList_Append(values, scalar);
            Py_DECREF(scalar);
            if (appended < 0) {
                ok = -1;
                break;
            }
            if (p->token.kind != ',') break;
            advance(p);
        }
    }
    if (ok > 0 && p->token.kind != ']') ok = 0;
    if (ok <= 0) {
        Py_DECREF(values);
        return ok;
    }
    if (set_slot(field, S_VALUES, PyList_AsTuple(values)) < 0 || set_offset(field, S_END, p->token.end) < 0 ||
        set_offset(field, S_STOP, p->token.end) < 0) {
        Py_DECREF(values);
        return -1;
    }
    Py_DECREF(values);
    advance(p);
    return take_separator(p, field);
}

/* A message node's `{` (or `<`) is the current token: its children list, and its closer. */
static int open_message(Parser *p, PyObject *field, PyObject **children, Py_UCS4 *closer) {
    *closer = p->token.kind == '{' ? '}' : '>';
    *children = PyList_New(0);
    if (*children == NULL) return -1;
    if (set_offset(field, S_OPEN, p->token.start) < 0 || set_slot(field, S_CHILDREN, Py_NewRef(*children)) < 0)
        return -1;
    advance(p);
    return 1;
}

typedef struct {
    PyObject *owner; /* borrowed: the field list holds it */
    PyObject *children;
    Py_UCS4 closer;
} Open;

typedef struct {
    Open *items;
    Py_ssize_t size, capacity;
} Stack;

static int push(Stack *stack, PyObject *owner, PyObject *children, Py_UCS4 closer) {
    if (stack->size == stack->capacity) {
        Py_ssize_t capacity = stack->capacity ? stack->capacity * 2 : 64;
        Open *items = PyMem_Realloc(stack->items, capacity * sizeof(Open));
        if (items == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        stack->items = items;
        stack->capacity = capacity;
    }
    stack->items[stack->size++] = (Open){owner, children, closer};
    return 0;
}

/* The message node `field`, whose `{` (or `<`) is the current token, becomes the one being read: the one
 * that was is pushed. */
static int enter(Parser *p, Stack *stack, PyObject *field, PyObject **owner, PyObject **children, Py_UCS4 *closer) {
    if (push(stack, *owner, *children, *closer) < 0) return -1;
    *owner = field;
    int ok = open_message(p, field, children, closer);
    if (ok > 0) Py_DECREF(*children); /* the field holds it */
    return ok;
}

/* The tree: reader._build's loop, for a text that has no error. */
static int build(Parser *p, PyObject *root) {
    Stack stack = {NULL, 0, 0};
    PyObject *owner = NULL;
    PyObject *children = root;
    Py_UCS4 closer = 0;
    int ok = 1;
    advance(p);
    while (ok > 0) {
        Token token = p->token;
        if (token.kind == TOK_IDENT) {
            PyObject *word = PyUnicode_Substring(p->source, token.start, token.end);
            if (word == NULL) {
                ok = -1;
                break;
            }
            PyObject *name = PyDict_SetDefault(p->names, word, word);
            Py_DECREF(word);
            PyObject *field = name == NULL ? NULL : new_field(name, token.start);
            if (field == NULL || PyList_Append(children, field) < 0) {
                Py_XDECREF(field);
                ok = -1;
                break;
            }
            Py_DECREF(field); /* the list holds it */
            advance(p);
            int colon = p->token.kind == ':';
            if (colon) {
                set_flag(field, S_COLON);
                advance(p);
            }
            if (p->token.kind == '[') {
                advance(p);
                if (p->token.kind != '{' && p->token.kind != '<') {
                    ok = parse_scalar_list(p, field);
                    continue;
                }
                set_flag(field, S_IN_LIST);
            } else if (p->token.kind != '{' && p->token.kind != '<') {
                PyObject *scalar = NULL;
                if (!colon) {
                    ok = 0;
                    break;
                }
                ok = parse_scalar(p, &scalar);
                if (ok <= 0) break;
                Py_ssize_t end = PyLong_AsSsize_t(PyTuple_GET_ITEM(scalar, 2));
                if (set_slot(field, S_VALUES, PyTuple_Pack(1, scalar)) < 0 || set_offset(field, S_END, end) < 0 ||
                    set_offset(field, S_STOP, end) < 0) {
                    Py_DECREF(scalar);
                    ok = -1;
                    break;
                }
                Py_DECREF(scalar);
                ok = take_separator(p, field);
                continue;
            }
            ok = enter(p, &stack, field, &owner, &children, &closer);
        } else if (owner != NULL && token.kind == (int)closer) {
            PyObject *done = owner;
            if (set_offset(done, S_CLOSE, token.end - 1) < 0 || set_offset(done, S_END, token.end) < 0 ||
                set_offset(done, S_STOP, token.end) < 0) {
                ok = -1;
                break;
            }
            Open open = stack.items[--stack.size];
            owner = open.owner;
            children = open.children;
            closer = open.closer;
            advance(p);
            if (slot(done, S_IN_LIST) == Py_True) {
                if (p->token.kind == ',') { /* the next message of `name [{...}, {...}]` */
                    advance(p);
                    if (p->token.kind != '{' && p->token.kind != '<') {
                        ok = 0;
                        break;
                    }
                    PyObject *element = new_field(slot(done, S_NAME), PyLong_AsSsize_t(slot(done, S_START)));
                    if (element == NULL || PyList_Append(children, element) < 0) {
                        Py_XDECREF(element);
                        ok = -1;
                        break;
                    }
                    Py_DECREF(element);
                    set_flag(element, S_IN_LIST);
                    ok = enter(p, &stack, element, &owner, &children, &closer);
                    continue;
                }
                if (p->token.kind != ']') {
                    ok = 0;
                    break;
                }
                if (set_offset(done, S_END, p->token.end) < 0 || set_offset(done, S_STOP, p->token.end) < 0) {
                    ok = -1;
                    break;
                }
                advance(p);
            }
            ok = take_separator(p, done);
        } else if (owner == NULL && token.kind == TOK_END) {
            break;
        } else {
            ok = 0;
        }
    }
    PyMem_Free(stack.items);
    return ok;
}

/* Whether the text holds a lone surrogate: a byte that is not UTF-8, as `surrogateescape` decodes it. */
static int has_surrogate(PyObject *text) {
    int ukind = PyUnicode_KIND(text);
    if (ukind == PyUnicode_1BYTE_KIND) return 0;
    const void *data = PyUnicode_DATA(text);
    Py_ssize_t length = PyUnicode_GET_LENGTH(text);
    for (Py_ssize_t i = 0; i < length; i++) {
        Py_UCS4 c = PyUnicode_READ(ukind, data, i);
        if (c >= 0xD800 && c <= 0xDFFF) return 1;
    }
    return 0;
}

static PyObject *parse(PyObject *module, PyObject *text) {
    (void)module;
    if (!set_up()) return NULL;
    if (!PyUnicode_Check(text)) {
        PyErr_SetString(PyExc_TypeError, "parse() takes a str");
        return NULL;
    }
#if PY_VERSION_HEX < 0x030C0000
    if (PyUnicode_READY(text) < 0) return NULL;
#endif
    if (has_surrogate(text)) Py_RETURN_NONE;
    Parser p;
    p.text.ukind = PyUnicode_KIND(text);
    p.text.data = PyUnicode_DATA(text);
    p.text.length = PyUnicode_GET_LENGTH(text);
    p.text.position = 0;
    p.source = text;
    p.names = PyDict_New();
    PyObject *root = PyList_New(0);
    if (p.names == NULL || root == NULL) {
        Py_XDECREF(p.names);
        Py_XDECREF(root);
        return NULL;
    }
    int ok = build(&p, root);
    Py_DECREF(p.names);
    if (ok > 0) return root;
    Py_DECREF(root);
    if (ok < 0) return NULL;
    Py_RETURN_NONE;
}

/* The binder's fast path: reader/binder.py's `_bind` for a tree whose every value is plain.
 *
 * `bind(tree, message, text, strict, tables, make_table)` fills the empty `message` from `tree` the
 * way binder._bind does, with the same calls on the message (setattr, append, add, SetInParent), and
 * returns the nodes it left aside as (path, node) pairs, in document order. It returns None at the
 * first thing that is not plain: anything binder._bind refuses, and also what it takes with more
 * care (an escape or a second piece in a string, a bytes field, a field without presence, a lazy
 * node, deep nesting). The message is then
 * half filled: the caller clears it and binder._bind reads the tree, for its error or its result.
 *
 * `tables[type(message)]` (made by `make_table(type)` when missing) maps each field name of the
 * message to (how to read it, repeated, enum numbers by name, enum numbers): binder._fast_table. */

enum { V_MESSAGE, V_STRING, V_INT32, V_INT64, V_UINT32, V_UINT64, V_FLOAT, V_DOUBLE, V_BOOL, V_ENUM, V_OTHER };
#define MAX_DEPTH 200

typedef struct {
    PyObject *text;
    int ukind;
    const void *data;
    int strict;
    PyObject *tables, *make_table;
    PyObject *unknown;           /* the list of (path, node) */
    PyObject *path[MAX_DEPTH];   /* the (name, index) steps to the message being filled */
    int depth;
} Binder;


static PyObject *table_of(Binder *b, PyObject *message) {
    PyObject *type = (PyObject *)Py_TYPE(message);
    PyObject *table = PyDict_GetItemWithError(b->tables, type);
    if (table != NULL || PyErr_Occurred()) return table;
    table = PyObject_CallOneArg(b->make_table, type);
    if (table == NULL) return NULL;
    int stored = PyDict_SetItem(b->tables, type, table);
    Py_DECREF(table);
    return stored < 0 ? NULL : table; /* borrowed: the dict holds it */
}

/* The word of a scalar, text[token:end], in ASCII (a number or a word token is ASCII); 0 if too long. */
static int scalar_word(Binder *b, PyObject *scalar, char *word, Py_ssize_t size) {
    Py_ssize_t token = PyLong_AsSsize_t(PyTuple_GET_ITEM(scalar, 3));
    Py_ssize_t end = PyLong_AsSsize_t(PyTuple_GET_ITEM(scalar, 2));
    if (end - token >= size || end <= token) return 0;
    for (Py_ssize_t i = token; i < end; i++) {
        Py_UCS4 c = PyUnicode_READ(b->ukind, b->data, i);
        if (c > 127) return 0;
        word[i - token] = (char)c;
    }
    word[end - token] = 0;
    return 1;
}

static int is_kind(PyObject *kind, PyObject *wanted) {
    return kind == wanted || PyUnicode_Compare(kind, wanted) == 0;
}

/* The magnitude a number word spells, as binder._parse_integer reads it; 0 where it spells none. */
static int word_integer(const char *word, unsigned long long *value) {
    unsigned base = 10;
    const char *digits = word;
    if (word[0] == '0' && (word[1] == 'x' || word[1] == 'X')) {
        base = 16;
        digits = word + 2;
    } else if (word[0] == '0' && word[1] != 0) {
        base = 8;
    }
    if (*digits == 0) return 0;
    unsigned long long total = 0;
    for (const char *c = digits; *c; c++) {
        unsigned digit;
        if (*c >= '0' && *c <= '9') digit = (unsigned)(*c - '0');
        else if (*c >= 'a' && *c <= 'f') digit = (unsigned)(*c - 'a' + 10);
        else if (*c >= 'A' && *c <= 'F') digit = (unsigned)(*c - 'A' + 10);
        else return 0;
        if (digit >= base) return 0;
        if (total > (~0ULL - digit) / base) return 0; /* past 64 bits: binder._bind says how */
        total = total * base + digit;
    }
    *value = total;
    return 1;
}

/* The Python value of one plain scalar for a field read as `how`; NULL without an exception where it is not
 * plain; `unknown_value` for an enum value its enum lacks (left aside when not strict, as binder._bind_field does). */
static PyObject *plain_value(Binder *b, int how, PyObject *scalar, PyObject *enum_names, PyObject *enum_numbers) {
    PyObject *kind = PyTuple_GET_ITEM(scalar, 0);
    Py_ssize_t start = PyLong_AsSsize_t(PyTuple_GET_ITEM(scalar, 1));
    Py_ssize_t token = PyLong_AsSsize_t(PyTuple_GET_ITEM(scalar, 3));
    int negative = token != start;
    if (how == V_STRING) {
        PyObject *pieces = PyTuple_GET_ITEM(scalar, 4);
        if (!is_kind(kind, kind_string) || PyTuple_GET_SIZE(pieces) != 1) return NULL;
        Py_ssize_t end = PyLong_AsSsize_t(PyTuple_GET_ITEM(scalar, 2));
        for (Py_ssize_t i = start + 1; i < end - 1; i++)
            if (PyUnicode_READ(b->ukind, b->data, i) == '\\') return NULL;
        return PyUnicode_Substring(b->text, start + 1, end - 1);
    }
    if (is_kind(kind, kind_string)) return NULL;
    int number = is_kind(kind, kind_number);
    char word[64];
    if (!scalar_word(b, scalar, word, sizeof word)) return NULL;
    if (how == V_ENUM) { /* by name, or by number; one its enum lacks is `unknown_value` */
        if (!PyDict_Check(enum_names) || !PyAnySet_Check(enum_numbers)) return NULL;
        if (!number) {
            if (negative) return NULL;
            PyObject *found = PyDict_GetItemString(enum_names, word);
            return Py_NewRef(found == NULL ? unknown_value : found);
        }
        unsigned long long magnitude;
        if (!word_integer(word, &magnitude) || magnitude > 0x80000000ULL || (!negative && magnitude == 0x80000000ULL))
            return NULL;
        PyObject *value = PyLong_FromLongLong(negative ? -(long long)magnitude : (long long)magnitude);
        if (value == NULL) return NULL;
        int known = PySet_Contains(enum_numbers, value);
        if (known > 0) return value;
        Py_DECREF(value);
        return known < 0 ? NULL : Py_NewRef(unknown_value);
    }
    if (how == V_FLOAT || how == V_DOUBLE) {
        double value;
        if (!number) {
            char lower[64];
            size_t i = 0;
            for (; word[i]; i++) lower[i] = (char)(word[i] >= 'A' && word[i] <= 'Z' ? word[i] + 32 : word[i]);
            lower[i] = 0;
            if (strcmp(lower, "inf") == 0 || strcmp(lower, "infinity") == 0) value = Py_HUGE_VAL;
            else if (strcmp(lower, "nan") == 0) return PyFloat_FromDouble(Py_NAN);
            else return NULL;
        } else {
            if (word[0] == '0' && word[1] != 0 && strchr(".eEfF", word[1]) == NULL) return NULL;
            size_t length = strlen(word);
            while (length && (word[length - 1] == 'f' || word[length - 1] == 'F')) word[--length] = 0;
            char *end;
            value = PyOS_string_to_double(word, &end, NULL);
            if (value == -1.0 && PyErr_Occurred()) {
                PyErr_Clear();
                return NULL;
            }
            if (*end != 0) return NULL;
            if (Py_IS_NAN(value)) return PyFloat_FromDouble(value);
            if (how == V_FLOAT && value == 340282356779733661637539395458142568448.0) /* 2**128 - 2**103 */
                value = 3.4028234663852886e38;                                     /* C++'s float max */
        }
        return PyFloat_FromDouble(negative ? -value : value);
    }
    if (how == V_BOOL) {
        if (negative) return NULL;
        if (!number) {
            if (!strcmp(word, "true") || !strcmp(word, "True") || !strcmp(word, "t")) return Py_NewRef(Py_True);
            if (!strcmp(word, "false") || !strcmp(word, "False") || !strcmp(word, "f")) return Py_NewRef(Py_False);
            return NULL;
        }
        unsigned long long magnitude;
        if (!word_integer(word, &magnitude) || magnitude > 1) return NULL;
        return Py_NewRef(magnitude ? Py_True : Py_False);
    }
    if (how == V_INT32 || how == V_INT64 || how == V_UINT32 || how == V_UINT64) {
        unsigned long long magnitude;
        if (!number || !word_integer(word, &magnitude)) return NULL;
        if (how == V_UINT32 || how == V_UINT64) {
            if (negative || (how == V_UINT32 && magnitude > 0xFFFFFFFFULL)) return NULL;
            return PyLong_FromUnsignedLongLong(magnitude);
        }
        unsigned long long limit = how == V_INT32 ? 0x7FFFFFFFULL : 0x7FFFFFFFFFFFFFFFULL;
        if (magnitude > limit + (negative ? 1 : 0)) return NULL;
        if (negative) return PyLong_FromLongLong(magnitude == limit + 1 ? -(long long)limit - 1 : -(long long)magnitude);
        return PyLong_FromUnsignedLongLong(magnitude);
    }
    return NULL;
}

static int remember_unknown(Binder *b, PyObject *node) {
    PyObject *path = PyTuple_New(b->depth);
    if (path == NULL) return -1;
    for (int i = 0; i < b->depth; i++) PyTuple_SET_ITEM(path, i, Py_NewRef(b->path[i]));
    PyObject *pair = PyTuple_Pack(2, path, node);
    Py_DECREF(path);
    if (pair == NULL) return -1;
    int appended = PyList_Append(b->unknown, pair);
    Py_DECREF(pair);
    return appended;
}

/* Whether a singular field was given already in this message (binder._refuse_second_value). */
static int given_twice(PyObject *given, PyObject *name) {
    int seen = PySet_Contains(given, name);
    if (seen != 0) return seen; /* 1, or -1 with an exception */
    return PySet_Add(given, name) < 0 ? -1 : 0;
}

/* Fill `message` from the field list `fields`: 1 done, 0 not plain, -1 an exception. */
static int bind_fields(Binder *b, PyObject *message, PyObject *fields) {
    PyObject *table = table_of(b, message);
    if (table == NULL) return -1;
    PyObject *given = PySet_New(NULL);
    if (given == NULL) return -1;
    int ok = 1;
    Py_ssize_t count = PyList_GET_SIZE(fields);
    for (Py_ssize_t i = 0; i < count && ok > 0; i++) {
        PyObject *node = PyList_GET_ITEM(fields, i);
        if (!Py_IS_TYPE(node, field_type)) { /* a lazy tree's node */
            ok = 0;
            break;
        }
        PyObject *name = slot(node, S_NAME);
        PyObject *entry = PyDict_GetItemWithError(table, name);
        if (entry == NULL) {
            if (PyErr_Occurred() || b->strict) ok = PyErr_Occurred() ? -1 : 0;
            else ok = remember_unknown(b, node) < 0 ? -1 : 1;
            continue;
        }
        int how = (int)PyLong_AsLong(PyTuple_GET_ITEM(entry, 0));
        int repeated = PyTuple_GET_ITEM(entry, 1) == Py_True;
        PyObject *enum_names = PyTuple_GET_ITEM(entry, 2);
        PyObject *enum_numbers = PyTuple_GET_ITEM(entry, 3);
        PyObject *values = slot(node, S_VALUES);
        PyObject *children = slot(node, S_CHILDREN);
        if (how == V_OTHER) {
            ok = 0;
        } else if (how == V_MESSAGE) {
            if (repeated && values != Py_None && PyTuple_GET_SIZE(values) == 0) continue; /* `name: []` */
            if (children == Py_None || (slot(node, S_IN_LIST) == Py_True && !repeated) || b->depth >= MAX_DEPTH) {
                ok = 0;
                break;
            }
            PyObject *child = NULL, *step = NULL;
            if (repeated) {
                PyObject *container = PyObject_GetAttr(message, name);
                if (container == NULL) { ok = -1; break; }
                child = PyObject_CallMethod(container, "add", NULL);
                Py_ssize_t size = child == NULL ? -1 : PyObject_Size(container);
                Py_DECREF(container);
                if (size >= 0) step = Py_BuildValue("(On)", name, size - 1);
            } else {
                int twice = given_twice(given, name);
                if (twice != 0) { ok = twice < 0 ? -1 : 0; break; }
                child = PyObject_GetAttr(message, name);
                PyObject *done = child == NULL ? NULL : PyObject_CallMethod(child, "SetInParent", NULL);
                if (done != NULL) {
                    Py_DECREF(done);
                    step = Py_BuildValue("(Oi)", name, 0);
                }
            }
            if (step == NULL) {
                Py_XDECREF(child);
                ok = -1;
                break;
            }
            b->path[b->depth++] = step;
            ok = bind_fields(b, child, children);
            b->depth--;
            Py_DECREF(step);
            Py_DECREF(child);
        } else {
            if (values == Py_None || slot(node, S_COLON) != Py_True) { ok = 0; break; }
            Py_ssize_t n = PyTuple_GET_SIZE(values);
            if (!repeated) {
                Py_ssize_t end = PyLong_AsSsize_t(slot(node, S_END));
                if (n != 1 || PyUnicode_READ(b->ukind, b->data, end - 1) == ']') { ok = 0; break; }
                int twice = given_twice(given, name);
                if (twice != 0) { ok = twice < 0 ? -1 : 0; break; }
            }
            PyObject *read = PyTuple_New(n); /* every value first: one its enum lacks leaves the whole node aside */
            if (read == NULL) { ok = -1; break; }
            int lacking = 0;
            for (Py_ssize_t j = 0; j < n; j++) {
                PyObject *value = plain_value(b, how, PyTuple_GET_ITEM(values, j), enum_names, enum_numbers);
                if (value == NULL) { ok = PyErr_Occurred() ? -1 : 0; break; }
                lacking |= value == unknown_value;
                PyTuple_SET_ITEM(read, j, value);
            }
            if (ok > 0 && lacking) {
                ok = b->strict ? 0 : remember_unknown(b, node) < 0 ? -1 : 1;
            } else if (ok > 0 && !repeated) {
                ok = PyObject_SetAttr(message, name, PyTuple_GET_ITEM(read, 0)) < 0 ? -1 : 1;
            } else if (ok > 0) {
                PyObject *container = PyObject_GetAttr(message, name);
                PyObject *done = container == NULL ? NULL : PyObject_CallMethod(container, "extend", "(O)", read);
                ok = done == NULL ? -1 : 1;
                Py_XDECREF(done);
                Py_XDECREF(container);
            }
            Py_DECREF(read);
        }
    }
    Py_DECREF(given);
    return ok;
}

static PyObject *bind(PyObject *module, PyObject *args) {
    (void)module;
    PyObject *tree, *message, *text, *tables, *make_table;
    int strict;
    if (!PyArg_ParseTuple(args, "O!OUpO!O:bind", &PyList_Type, &tree, &message, &text, &strict, &PyDict_Type,
                          &tables, &make_table))
        return NULL;
    if (!set_up()) return NULL;
#if PY_VERSION_HEX < 0x030C0000
    if (PyUnicode_READY(text) < 0) return NULL;
#endif
    Binder b = {text, PyUnicode_KIND(text), PyUnicode_DATA(text), strict, tables, make_table, PyList_New(0), {0}, 0};
    if (b.unknown == NULL) return NULL;
    int ok = bind_fields(&b, message, tree);
    if (ok > 0) return b.unknown;
    Py_DECREF(b.unknown);
    if (ok < 0) return NULL;
    Py_RETURN_NONE;
}

/* Dialect detection's walk over a tree: dialects/keys.py's `_walk` and `leaves_aside`, node for node.
 *
 * `walk(root, tree, text, facts, make_facts, hooks, first_only)`: `facts[descriptor]` (made by
 * `make_facts(descriptor)` when missing, which stores it there) is (role, {name: (field, message type
 * or None, is enum)}) of a message: keys._walk_facts; `hooks` is (value_word, scalar_value), the Python
 * functions `_walk` calls for an enum field's values, called here the same way and at the same
 * nodes, so every key and every error is theirs. The messages are walked in `_walk`'s order (a
 * stack: the last message met is walked next). With `first_only`, the answer is `leaves_aside`'s:
 * whether a node is left aside (True at the first one). Otherwise it is (names by role, extra keys,
 * the nodes aside as (owner, node, siblings)): `_walk`'s dicts, for it to make its keys of. None
 * for a lazy tree's node (the Python walk reads those). */

typedef struct {
    PyObject *descriptor;
    PyObject *nodes; /* borrowed: the tree holds it */
} Pending;

static PyObject *walk(PyObject *module, PyObject *args) {
    (void)module;
    PyObject *root, *tree, *text, *facts, *make_facts, *value_word, *scalar_value;
    int first_only;
    if (!PyArg_ParseTuple(args, "OO!UO!O(OO)p:walk", &root, &PyList_Type, &tree, &text, &PyDict_Type, &facts,
                          &make_facts, &value_word, &scalar_value, &first_only))
        return NULL;
    if (!set_up()) return NULL;
    PyObject *by_role = PyDict_New(), *extra = PyDict_New(), *aside = PyList_New(0);
    Pending *pending = PyMem_Malloc(64 * sizeof(Pending));
    Py_ssize_t size = 0, capacity = 64;
    PyObject *result = NULL;
    int found = 0, lazy = 0;
    if (by_role == NULL || extra == NULL || aside == NULL || pending == NULL) goto done;
    pending[size++] = (Pending){Py_NewRef(root), tree};
    while (size > 0 && !found && !lazy) {
        Pending top = pending[--size];
        PyObject *owner = top.descriptor, *nodes = top.nodes;
        PyObject *known = PyDict_GetItemWithError(facts, owner);
        if (known != NULL) Py_INCREF(known);
        else if (!PyErr_Occurred()) known = PyObject_CallOneArg(make_facts, owner); /* it stores them in `facts` */
        PyObject *role = known == NULL ? NULL : PyTuple_GetItem(known, 0);
        PyObject *fields = known == NULL ? NULL : PyTuple_GetItem(known, 1);
        PyObject *names = NULL, *seen = NULL;
        int ok = role != NULL && fields != NULL;
        if (ok && !first_only) {
            names = PyDict_GetItemWithError(by_role, role);
            if (names == NULL && !PyErr_Occurred()) {
                names = PyDict_New();
                if (names != NULL && PyDict_SetItem(by_role, role, names) < 0) ok = 0;
                Py_XDECREF(names); /* the dict holds it */
            }
            seen = PySet_New(NULL);
            ok = ok && names != NULL && seen != NULL;
        }
        Py_ssize_t count = ok ? PyList_GET_SIZE(nodes) : 0;
        for (Py_ssize_t i = 0; ok && i < count; i++) {
            PyObject *node = PyList_GET_ITEM(nodes, i);
            if (!Py_IS_TYPE(node, field_type)) {
                lazy = 1;
                break;
            }
            PyObject *name = slot(node, S_NAME);
            PyObject *entry = PyDict_GetItemWithError(fields, name);
            if (entry == NULL) {
                if (PyErr_Occurred()) { ok = 0; break; }
                if (first_only) { found = 1; break; }
                PyObject *item = PyTuple_Pack(3, owner, node, nodes);
                if (item == NULL || PyList_Append(aside, item) < 0) ok = 0;
                Py_XDECREF(item);
                continue;
            }
            PyObject *field = PyTuple_GET_ITEM(entry, 0), *message_type = PyTuple_GET_ITEM(entry, 1);
            int is_enum = PyTuple_GET_ITEM(entry, 2) == Py_True;
            PyObject *values = slot(node, S_VALUES), *children = slot(node, S_CHILDREN);
            if (!first_only) {
                if (PyDict_SetItem(names, name, Py_None) < 0) { ok = 0; break; }
                int again = PySet_Contains(seen, name);
                if (again < 0) { ok = 0; break; }
                if (again || (values != Py_None && PyTuple_GET_SIZE(values) > 1)) {
                    PyObject *key = PyTuple_Pack(3, role, name, repeated_key);
                    if (key == NULL || PyDict_SetItem(extra, key, Py_None) < 0) ok = 0;
                    Py_XDECREF(key);
                    if (!ok) break;
                }
                if (PySet_Add(seen, name) < 0) { ok = 0; break; }
            }
            if (children != Py_None && PyList_GET_SIZE(children) > 0) {
                if (message_type == Py_None) continue;
                if (size == capacity) {
                    Pending *more = PyMem_Realloc(pending, 2 * capacity * sizeof(Pending));
                    if (more == NULL) { PyErr_NoMemory(); ok = 0; break; }
                    pending = more;
                    capacity *= 2;
                }
                pending[size++] = (Pending){Py_NewRef(message_type), children};
            } else if (is_enum && values != Py_None && PyTuple_GET_SIZE(values) > 0) {
                Py_ssize_t n = PyTuple_GET_SIZE(values);
                for (Py_ssize_t j = 0; !first_only && ok && j < n; j++) {
                    PyObject *word = PyObject_CallFunctionObjArgs(value_word, PyTuple_GET_ITEM(values, j), text, NULL);
                    PyObject *key = word == NULL ? NULL : PyTuple_Pack(3, role, name, word);
                    if (key == NULL || PyDict_SetItem(extra, key, Py_None) < 0) ok = 0;
                    Py_XDECREF(key);
                    Py_XDECREF(word);
                }
                if (!first_only && ok == 0) break;
                for (Py_ssize_t j = 0; ok && j < n; j++) { /* any(scalar_value(...) is None): stops at the first */
                    PyObject *value = PyObject_CallFunctionObjArgs(scalar_value, field, PyTuple_GET_ITEM(values, j),
                                                                   text, NULL);
                    if (value == NULL) { ok = 0; break; }
                    int lacking = value == Py_None;
                    Py_DECREF(value);
                    if (!lacking) continue;
                    if (first_only) {
                        found = 1;
                    } else {
                        PyObject *item = PyTuple_Pack(3, owner, node, nodes);
                        if (item == NULL || PyList_Append(aside, item) < 0) ok = 0;
                        Py_XDECREF(item);
                    }
                    break;
                }
                if (found) break;
            }
        }
        Py_XDECREF(seen);
        Py_XDECREF(known);
        Py_DECREF(owner);
        if (!ok) goto done;
    }
    if (lazy) result = Py_NewRef(Py_None);
    else if (first_only) result = PyBool_FromLong(found);
    else result = PyTuple_Pack(3, by_role, extra, aside);
done:
    while (pending != NULL && size > 0) Py_DECREF(pending[--size].descriptor);
    PyMem_Free(pending);
    Py_XDECREF(by_role);
    Py_XDECREF(extra);
    Py_XDECREF(aside);
    return result;
}

/* Where each slot of `Field` keeps its value: its member descriptor's offset. */
static int find_slots(PyTypeObject *type) {
    for (int slot = 0; slot < S_COUNT; slot++) {
        PyObject *descriptor = PyDict_GetItemString(type->tp_dict, slot_names[slot]);
        if (descriptor == NULL || !Py_IS_TYPE(descriptor, &PyMemberDescr_Type)) {
            PyErr_Format(PyExc_TypeError, "Field has no slot %s", slot_names[slot]);
            return -1;
        }
        PyMemberDef *member = ((PyMemberDescrObject *)descriptor)->d_member;
        if (member->type != T_OBJECT_EX) {
            PyErr_Format(PyExc_TypeError, "Field slot %s is not an object slot", slot_names[slot]);
            return -1;
        }
        slot_offset[slot] = member->offset;
    }
    return 0;
}

static PyObject *setup(PyObject *module, PyObject *args) {
    (void)module;
    PyObject *field, *scalar;
    if (!PyArg_ParseTuple(args, "O!O!:setup", &PyType_Type, &field, &PyType_Type, &scalar)) return NULL;
    if (!PyType_IsSubtype((PyTypeObject *)scalar, &PyTuple_Type)) {
        PyErr_SetString(PyExc_TypeError, "Scalar must be a tuple type");
        return NULL;
    }
    if (find_slots((PyTypeObject *)field) < 0) return NULL;
    Py_XSETREF(field_type, (PyTypeObject *)Py_NewRef(field));
    Py_XSETREF(scalar_type, (PyTypeObject *)Py_NewRef(scalar));
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"parse", parse, METH_O, "The tree of a well-formed text, as reader.parse_tree builds it; None otherwise."},
    {"bind", bind, METH_VARARGS, "Fill an empty message from a plain tree: the unknown (path, node) pairs; None otherwise."},
    {"walk", walk, METH_VARARGS, "Dialect detection's walk (dialects/keys.py): its dicts, or whether a node is aside."},
    {"setup", setup, METH_VARARGS, "setup(Field, Scalar): the node classes to build."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "upgrade_tool._fastread", "The reader's fast path (see upgrade_tool/reader.py).", -1,
    methods,
};

PyMODINIT_FUNC PyInit__fastread(void) {
    kind_number = PyUnicode_InternFromString("number");
    kind_ident = PyUnicode_InternFromString("ident");
    kind_string = PyUnicode_InternFromString("string");
    empty_tuple = PyTuple_New(0);
    minus_one = PyLong_FromLong(-1);
    unknown_value = PyBaseObject_Type.tp_alloc(&PyBaseObject_Type, 0); /* a marker, never handed out */
    repeated_key = PyUnicode_InternFromString("[]");                     /* keys.REPEATED */
    if (kind_number == NULL || kind_ident == NULL || kind_string == NULL || empty_tuple == NULL || minus_one == NULL ||
        unknown_value == NULL || repeated_key == NULL)
        return NULL;
    return PyModule_Create(&module_def);
}
