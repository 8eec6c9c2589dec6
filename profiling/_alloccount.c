/*
 * Counts the calls to CPython's allocators by size, with no tracer and no stack: the ground
 * truth that memray's per-line figures are checked against (a tracer that installs a profile
 * function makes CPython 3.11 allocate a frame object per Python call, which this doesn't see
 * because nothing is installed but the allocator wrappers).
 *
 * Domains: 0 = PYMEM_DOMAIN_OBJ (PyObject_Malloc: objects), 1 = PYMEM_DOMAIN_MEM (PyMem_Malloc:
 * e.g. deque blocks, list item arrays), 2 = PYMEM_DOMAIN_RAW (PyMem_RawMalloc; pymalloc passes
 * requests above 512 bytes of the two other domains here, so they are counted twice: once by
 * size in their own domain, once here). Sizes above MAXSIZE share the last slot.
 * Built by profiling/alloccount.py.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#define MAXSIZE 4096
#define NDOMAINS 3

static unsigned long long counts[NDOMAINS][MAXSIZE + 2];
static unsigned long long total_bytes[NDOMAINS];
static PyMemAllocatorEx saved[NDOMAINS];
static int installed;

typedef struct { int domain; } ctx_t;
static ctx_t ctxs[NDOMAINS] = {{0}, {1}, {2}};

static void record(int d, size_t size) {
    counts[d][size > MAXSIZE ? MAXSIZE + 1 : size]++;
    total_bytes[d] += size;
}

static void *hook_malloc(void *ctx, size_t size) {
    int d = ((ctx_t *)ctx)->domain;
    record(d, size);
    return saved[d].malloc(saved[d].ctx, size);
}

static void *hook_calloc(void *ctx, size_t nelem, size_t elsize) {
    int d = ((ctx_t *)ctx)->domain;
    record(d, nelem * elsize);
    return saved[d].calloc(saved[d].ctx, nelem, elsize);
}

static void *hook_realloc(void *ctx, void *ptr, size_t size) {
    int d = ((ctx_t *)ctx)->domain;
    record(d, size);
    return saved[d].realloc(saved[d].ctx, ptr, size);
}

static void hook_free(void *ctx, void *ptr) {
    int d = ((ctx_t *)ctx)->domain;
    saved[d].free(saved[d].ctx, ptr);
}

static const PyMemAllocatorDomain DOMAINS[NDOMAINS] = {
    PYMEM_DOMAIN_OBJ, PYMEM_DOMAIN_MEM, PYMEM_DOMAIN_RAW};

static PyObject *start(PyObject *self, PyObject *args) {
    if (installed) {
        PyErr_SetString(PyExc_RuntimeError, "already counting");
        return NULL;
    }
    memset(counts, 0, sizeof(counts));
    memset(total_bytes, 0, sizeof(total_bytes));
    for (int d = 0; d < NDOMAINS; d++) {
        PyMemAllocatorEx hook = {&ctxs[d], hook_malloc, hook_calloc, hook_realloc, hook_free};
        PyMem_GetAllocator(DOMAINS[d], &saved[d]);
        PyMem_SetAllocator(DOMAINS[d], &hook);
    }
    installed = 1;
    Py_RETURN_NONE;
}

static PyObject *stop(PyObject *self, PyObject *args) {
    /* Frees of blocks allocated while counting go through the hook's free, which forwards to
       the saved allocator: restoring it is safe at any time. */
    if (installed) {
        for (int d = NDOMAINS - 1; d >= 0; d--)
            PyMem_SetAllocator(DOMAINS[d], &saved[d]);
        installed = 0;
    }
    Py_RETURN_NONE;
}

static PyObject *result(PyObject *self, PyObject *args) {
    /* {(domain, size): count} with size -1 for "more than MAXSIZE", and {domain: bytes}. */
    unsigned long long c[NDOMAINS][MAXSIZE + 2];
    unsigned long long b[NDOMAINS];
    memcpy(c, counts, sizeof(c));
    memcpy(b, total_bytes, sizeof(b));
    PyObject *dict = PyDict_New();
    PyObject *bytes = PyDict_New();
    if (dict == NULL || bytes == NULL)
        goto error;
    for (int d = 0; d < NDOMAINS; d++) {
        for (int s = 0; s <= MAXSIZE + 1; s++) {
            if (!c[d][s])
                continue;
            PyObject *key = Py_BuildValue("(ii)", d, s > MAXSIZE ? -1 : s);
            PyObject *val = PyLong_FromUnsignedLongLong(c[d][s]);
            if (key == NULL || val == NULL || PyDict_SetItem(dict, key, val) < 0) {
                Py_XDECREF(key);
                Py_XDECREF(val);
                goto error;
            }
            Py_DECREF(key);
            Py_DECREF(val);
        }
        PyObject *key = PyLong_FromLong(d);
        PyObject *val = PyLong_FromUnsignedLongLong(b[d]);
        if (key == NULL || val == NULL || PyDict_SetItem(bytes, key, val) < 0) {
            Py_XDECREF(key);
            Py_XDECREF(val);
            goto error;
        }
        Py_DECREF(key);
        Py_DECREF(val);
    }
    return Py_BuildValue("(NN)", dict, bytes);
error:
    Py_XDECREF(dict);
    Py_XDECREF(bytes);
    return NULL;
}

static PyMethodDef methods[] = {
    {"start", start, METH_NOARGS, "Start counting (resets the counts)."},
    {"stop", stop, METH_NOARGS, "Stop counting."},
    {"result", result, METH_NOARGS, "({(domain, size): count}, {domain: bytes})."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_alloccount", NULL, -1, methods};

PyMODINIT_FUNC PyInit__alloccount(void) { return PyModule_Create(&module); }
