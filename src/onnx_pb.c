/* Protobuf wire-format decoder for ONNX models (see onnx_pb.h). */
#include "onnx_pb.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- arena ------------------------------------------------------------- */

typedef struct onx_block {
  struct onx_block *next;
  size_t size, used;
  /* data follows, aligned to max_align_t by the allocation */
} onx_block;

struct onx_arena {
  onx_block *head;
  size_t total, max_bytes;
};

#define ONX_ALIGN 16
#define ONX_BLOCK 65536

static size_t hdr_size(void) {
  return (sizeof(onx_block) + ONX_ALIGN - 1) / ONX_ALIGN * ONX_ALIGN;
}

void onx_arena_free(onx_arena *a) {
  if (!a) return;
  onx_block *b = a->head;
  while (b) {
    onx_block *nx = b->next;
    free(b);
    b = nx;
  }
  free(a);
}

/* n bytes, zeroed; NULL when over budget or out of memory. */
static void *arena_alloc(onx_arena *a, size_t n) {
  if (n == 0) n = 1;
  if (n > SIZE_MAX / 2) return NULL;
  n = (n + ONX_ALIGN - 1) / ONX_ALIGN * ONX_ALIGN;
  onx_block *b = a->head;
  if (!b || b->size - b->used < n) {
    size_t sz = n > ONX_BLOCK ? n : ONX_BLOCK;
    if (a->total > a->max_bytes || sz > a->max_bytes - a->total) return NULL;
    b = (onx_block *)malloc(hdr_size() + sz);
    if (!b) return NULL;
    b->size = sz;
    b->used = 0;
    b->next = a->head;
    a->head = b;
    a->total += sz;
  }
  void *p = (char *)b + hdr_size() + b->used;
  b->used += n;
  memset(p, 0, n);
  return p;
}

/* ---- decoding context --------------------------------------------------- */

typedef struct {
  onx_arena *a;
  char *err;
  size_t err_len;
  int status;
} ctx;

typedef struct {
  const uint8_t *p, *end;
} rd;

static int fail(ctx *c, int status, const char *fmt, ...) {
  if (c->status == ONX_OK) {
    c->status = status;
    if (c->err && c->err_len > 0) {
      va_list ap;
      va_start(ap, fmt);
      vsnprintf(c->err, c->err_len, fmt, ap);
      va_end(ap);
    }
  }
  return status;
}

#define TRY(x)                      \
  do {                              \
    int st_ = (x);                  \
    if (st_ != ONX_OK) return st_;  \
  } while (0)

static void *alloc(ctx *c, size_t n, size_t size) {
  if (size != 0 && n > SIZE_MAX / size) {
    fail(c, ONX_ERR_ALLOC, "allocation size overflow");
    return NULL;
  }
  void *p = arena_alloc(c->a, n * size);
  if (!p) fail(c, ONX_ERR_ALLOC, "out of memory (or over the memory budget) while decoding");
  return p;
}

/* A growable array in the arena (old storage is abandoned: at most twice
 * the final size is wasted). */
typedef struct {
  void *data;
  int64_t n, cap;
} vec;

static void *vec_push(ctx *c, vec *v, size_t elsize) {
  if (v->n == v->cap) {
    int64_t cap = v->cap ? v->cap * 2 : 4;
    if (cap > (int64_t)(SIZE_MAX / elsize / 2)) {
      fail(c, ONX_ERR_ALLOC, "too many elements");
      return NULL;
    }
    void *d = alloc(c, (size_t)cap, elsize);
    if (!d) return NULL;
    if (v->n) memcpy(d, v->data, (size_t)v->n * elsize);
    v->data = d;
    v->cap = cap;
  }
  void *slot = (char *)v->data + (size_t)v->n * elsize;
  v->n++;
  return slot;
}

/* ---- wire primitives ------------------------------------------------------ */

static int read_varint(ctx *c, rd *r, uint64_t *out) {
  uint64_t v = 0;
  for (int shift = 0; shift < 70; shift += 7) {
    if (r->p >= r->end) return fail(c, ONX_ERR_TRUNCATED, "truncated varint (the file is cut short)");
    uint8_t b = *r->p++;
    if (shift == 63 && (b & 0x7e)) return fail(c, ONX_ERR_MALFORMED, "varint overflows 64 bits");
    v |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) {
      *out = v;
      return ONX_OK;
    }
  }
  return fail(c, ONX_ERR_MALFORMED, "varint longer than 10 bytes");
}

static int read_fixed32(ctx *c, rd *r, uint32_t *out) {
  if (r->end - r->p < 4) return fail(c, ONX_ERR_TRUNCATED, "truncated 32-bit value");
  *out = (uint32_t)r->p[0] | (uint32_t)r->p[1] << 8 | (uint32_t)r->p[2] << 16 |
         (uint32_t)r->p[3] << 24;
  r->p += 4;
  return ONX_OK;
}

static int read_fixed64(ctx *c, rd *r, uint64_t *out) {
  if (r->end - r->p < 8) return fail(c, ONX_ERR_TRUNCATED, "truncated 64-bit value");
  uint64_t v = 0;
  for (int k = 7; k >= 0; k--) v = v << 8 | r->p[k];
  r->p += 8;
  *out = v;
  return ONX_OK;
}

static int read_key(ctx *c, rd *r, uint32_t *field, int *wt) {
  uint64_t k;
  TRY(read_varint(c, r, &k));
  *wt = (int)(k & 7);
  uint64_t f = k >> 3;
  if (f == 0 || f > 536870911u) return fail(c, ONX_ERR_MALFORMED, "invalid field number %llu", (unsigned long long)f);
  *field = (uint32_t)f;
  return ONX_OK;
}

/* The bytes of a length-delimited field. */
static int read_len(ctx *c, rd *r, rd *sub) {
  uint64_t n;
  TRY(read_varint(c, r, &n));
  if (n > (uint64_t)(r->end - r->p)) return fail(c, ONX_ERR_TRUNCATED, "a length field (%llu bytes) runs past the end of its message (the file is truncated or corrupt)", (unsigned long long)n);
  sub->p = r->p;
  sub->end = r->p + n;
  r->p += n;
  return ONX_OK;
}

static int skip_field(ctx *c, rd *r, int wt) {
  uint64_t u = 0;
  uint32_t u32 = 0;
  rd sub;
  switch (wt) {
  case 0: return read_varint(c, r, &u);
  case 1: return read_fixed64(c, r, &u);
  case 2: return read_len(c, r, &sub);
  case 5: return read_fixed32(c, r, &u32);
  default: return fail(c, ONX_ERR_MALFORMED, "unsupported wire type %d (groups or corrupt data)", wt);
  }
}

static int expect_wt(ctx *c, int wt, int want, const char *what) {
  if (wt != want) return fail(c, ONX_ERR_MALFORMED, "field %s has wire type %d, expected %d", what, wt, want);
  return ONX_OK;
}

static int read_int64(ctx *c, rd *r, int wt, const char *what, int64_t *out) {
  uint64_t u = 0;
  TRY(expect_wt(c, wt, 0, what));
  TRY(read_varint(c, r, &u));
  *out = (int64_t)u;
  return ONX_OK;
}

static int read_int32(ctx *c, rd *r, int wt, const char *what, int *out) {
  int64_t v;
  TRY(read_int64(c, r, wt, what, &v));
  if (v < -2147483647 - 1 || v > 2147483647) return fail(c, ONX_ERR_MALFORMED, "field %s out of 32-bit range", what);
  *out = (int)v;
  return ONX_OK;
}

/* Valid UTF-8 without NUL bytes. */
static int valid_utf8(const uint8_t *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    uint8_t b = s[i];
    if (b == 0) return 0;
    if (b < 0x80) {
      i++;
      continue;
    }
    size_t len;
    uint32_t cp;
    if ((b & 0xe0) == 0xc0) {
      len = 2;
      cp = b & 0x1f;
    } else if ((b & 0xf0) == 0xe0) {
      len = 3;
      cp = b & 0x0f;
    } else if ((b & 0xf8) == 0xf0) {
      len = 4;
      cp = b & 0x07;
    } else {
      return 0;
    }
    if (n - i < len) return 0;
    for (size_t k = 1; k < len; k++) {
      if ((s[i + k] & 0xc0) != 0x80) return 0;
      cp = cp << 6 | (s[i + k] & 0x3f);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
      return 0;
    i += len;
  }
  return 1;
}

/* A length-delimited string, copied NUL-terminated into the arena. */
static int read_string(ctx *c, rd *r, int wt, const char *what, const char **out) {
  rd s;
  TRY(expect_wt(c, wt, 2, what));
  TRY(read_len(c, r, &s));
  size_t n = (size_t)(s.end - s.p);
  if (!valid_utf8(s.p, n)) return fail(c, ONX_ERR_INVALID, "field %s is not a valid UTF-8 string without NUL bytes", what);
  char *d = (char *)alloc(c, n + 1, 1);
  if (!d) return c->status;
  if (n) memcpy(d, s.p, n);
  d[n] = '\0';
  *out = d;
  return ONX_OK;
}

static int push_string(ctx *c, rd *r, int wt, const char *what, vec *v) {
  const char *s;
  TRY(read_string(c, r, wt, what, &s));
  const char **slot = (const char **)vec_push(c, v, sizeof(char *));
  if (!slot) return c->status;
  *slot = s;
  return ONX_OK;
}

/* Repeated numeric fields, packed (wire type 2) or not. kind: 'v' varint
 * (int64), 'f' float (fixed32), 'd' double (fixed64). Values go to v as
 * int64 ('v') or double ('f', 'd'). */
static int push_number(ctx *c, rd *r, char kind, vec *v) {
  uint64_t u = 0;
  uint32_t u32 = 0;
  if (kind == 'v') {
    TRY(read_varint(c, r, &u));
    int64_t *slot = (int64_t *)vec_push(c, v, sizeof(int64_t));
    if (!slot) return c->status;
    *slot = (int64_t)u;
  } else if (kind == 'f') {
    TRY(read_fixed32(c, r, &u32));
    float f;
    memcpy(&f, &u32, 4);
    double *slot = (double *)vec_push(c, v, sizeof(double));
    if (!slot) return c->status;
    *slot = (double)f;
  } else {
    TRY(read_fixed64(c, r, &u));
    double d;
    memcpy(&d, &u, 8);
    double *slot = (double *)vec_push(c, v, sizeof(double));
    if (!slot) return c->status;
    *slot = d;
  }
  return ONX_OK;
}

static int read_repeated(ctx *c, rd *r, int wt, char kind, const char *what, vec *v) {
  int scalar_wt = kind == 'v' ? 0 : kind == 'f' ? 5 : 1;
  if (wt == scalar_wt) return push_number(c, r, kind, v);
  if (wt != 2) return fail(c, ONX_ERR_MALFORMED, "field %s has wire type %d", what, wt);
  rd s;
  TRY(read_len(c, r, &s));
  if (kind == 'f' && (s.end - s.p) % 4 != 0) return fail(c, ONX_ERR_MALFORMED, "packed field %s is not a whole number of floats", what);
  if (kind == 'd' && (s.end - s.p) % 8 != 0) return fail(c, ONX_ERR_MALFORMED, "packed field %s is not a whole number of doubles", what);
  while (s.p < s.end) TRY(push_number(c, &s, kind, v));
  return ONX_OK;
}

/* ---- TensorProto ----------------------------------------------------------- */

static double half_to_double(uint16_t h) {
  int e = (h >> 10) & 0x1f;
  int m = h & 0x3ff;
  double v;
  if (e == 0) {
    v = ldexp((double)m, -24);
  } else if (e == 31) {
    v = m ? NAN : INFINITY;
  } else {
    v = ldexp((double)(m | 0x400), e - 25);
  }
  return (h & 0x8000) ? -v : v;
}

static double bfloat_to_double(uint16_t h) {
  uint32_t u = (uint32_t)h << 16;
  float f;
  memcpy(&f, &u, 4);
  return (double)f;
}

/* Bytes per element in raw_data; 0 when not decoded. */
static int raw_size(int dt) {
  switch (dt) {
  case ONX_FLOAT: case ONX_INT32: case ONX_UINT32: return 4;
  case ONX_DOUBLE: case ONX_INT64: case ONX_UINT64: return 8;
  case ONX_FLOAT16: case ONX_BFLOAT16: case ONX_INT16: case ONX_UINT16: return 2;
  case ONX_INT8: case ONX_UINT8: case ONX_BOOL: return 1;
  default: return 0;
  }
}

static double raw_value(const uint8_t *p, int dt) {
  uint64_t u = 0;
  int sz = raw_size(dt);
  for (int k = sz - 1; k >= 0; k--) u = u << 8 | p[k];
  switch (dt) {
  case ONX_FLOAT: {
    uint32_t u32 = (uint32_t)u;
    float f;
    memcpy(&f, &u32, 4);
    return (double)f;
  }
  case ONX_DOUBLE: {
    double d;
    memcpy(&d, &u, 8);
    return d;
  }
  case ONX_FLOAT16: return half_to_double((uint16_t)u);
  case ONX_BFLOAT16: return bfloat_to_double((uint16_t)u);
  case ONX_INT8: return (double)(int8_t)(uint8_t)u;
  case ONX_INT16: return (double)(int16_t)(uint16_t)u;
  case ONX_INT32: return (double)(int32_t)(uint32_t)u;
  case ONX_INT64: return (double)(int64_t)u;
  default: return (double)u; /* unsigned and bool */
  }
}

/* int32_data holds float16/bfloat16 bits and the small integer types. */
static double int32_field_value(int64_t v, int dt) {
  switch (dt) {
  case ONX_FLOAT16: return half_to_double((uint16_t)v);
  case ONX_BFLOAT16: return bfloat_to_double((uint16_t)v);
  case ONX_INT32: return (double)(int32_t)v;
  default: return (double)v;
  }
}

static int decode_tensor(ctx *c, rd r, onx_tensor *t) {
  vec dims = {0}, fdata = {0}, ddata = {0}, i32 = {0}, i64 = {0}, u64 = {0};
  rd raw = {NULL, NULL};
  int has_raw = 0, external = 0, has_external_entries = 0;
  const char *location = NULL;
  t->name = "";
  while (r.p < r.end) {
    uint32_t f = 0;
    int wt = 0;
    TRY(read_key(c, &r, &f, &wt));
    switch (f) {
    case 1: TRY(read_repeated(c, &r, wt, 'v', "TensorProto.dims", &dims)); break;
    case 2: TRY(read_int32(c, &r, wt, "TensorProto.data_type", &t->data_type)); break;
    case 4: TRY(read_repeated(c, &r, wt, 'f', "TensorProto.float_data", &fdata)); break;
    case 5: TRY(read_repeated(c, &r, wt, 'v', "TensorProto.int32_data", &i32)); break;
    case 7: TRY(read_repeated(c, &r, wt, 'v', "TensorProto.int64_data", &i64)); break;
    case 8: TRY(read_string(c, &r, wt, "TensorProto.name", &t->name)); break;
    case 9:
      TRY(expect_wt(c, wt, 2, "TensorProto.raw_data"));
      TRY(read_len(c, &r, &raw));
      has_raw = 1;
      break;
    case 10: TRY(read_repeated(c, &r, wt, 'd', "TensorProto.double_data", &ddata)); break;
    case 11: TRY(read_repeated(c, &r, wt, 'v', "TensorProto.uint64_data", &u64)); break;
    case 13: { /* external_data: key/value entries */
      rd e;
      TRY(expect_wt(c, wt, 2, "TensorProto.external_data"));
      TRY(read_len(c, &r, &e));
      has_external_entries = 1;
      const char *key = NULL, *val = NULL;
      while (e.p < e.end) {
        uint32_t ef = 0;
        int ewt = 0;
        TRY(read_key(c, &e, &ef, &ewt));
        if (ef == 1) TRY(read_string(c, &e, ewt, "external_data.key", &key));
        else if (ef == 2) TRY(read_string(c, &e, ewt, "external_data.value", &val));
        else TRY(skip_field(c, &e, ewt));
      }
      if (key && val && strcmp(key, "location") == 0) location = val;
      break;
    }
    case 14: {
      int loc;
      TRY(read_int32(c, &r, wt, "TensorProto.data_location", &loc));
      external = loc == 1;
      break;
    }
    default: TRY(skip_field(c, &r, wt));
    }
  }
  if (external || has_external_entries) {
    return fail(c, ONX_ERR_UNSUPPORTED,
                "tensor '%s' keeps its data in an external file%s%s%s; cphap reads only self-contained models: save the model with its weights inside (in Python: onnx.save_model(model, path, save_as_external_data=False))",
                t->name, location ? " ('" : "", location ? location : "", location ? "')" : "");
  }
  t->n_dims = dims.n;
  t->dims = (int64_t *)dims.data;
  int64_t count = 1;
  for (int64_t k = 0; k < dims.n; k++) {
    int64_t d = t->dims[k];
    if (d < 0) return fail(c, ONX_ERR_INVALID, "tensor '%s' has a negative dimension (%lld)", t->name, (long long)d);
    if (d > 0 && count > INT64_MAX / d) return fail(c, ONX_ERR_INVALID, "tensor '%s' has too many elements", t->name);
    count *= d;
  }
  t->n_values = count;
  int dt = t->data_type;
  int sz = raw_size(dt);
  if (sz == 0) { /* strings, complex numbers, undefined: not decoded */
    t->has_values = 0;
    return ONX_OK;
  }
  int64_t n_typed = fdata.n + ddata.n + i32.n + i64.n + u64.n;
  int64_t have;
  if (has_raw) {
    if (n_typed > 0) return fail(c, ONX_ERR_INVALID, "tensor '%s' has both raw_data and typed data", t->name);
    size_t nb = (size_t)(raw.end - raw.p);
    if (nb % (size_t)sz != 0) return fail(c, ONX_ERR_INVALID, "tensor '%s': raw_data holds %llu bytes, not a whole number of %d-byte values", t->name, (unsigned long long)nb, sz);
    have = (int64_t)(nb / (size_t)sz);
  } else {
    vec *src = NULL;
    switch (dt) {
    case ONX_FLOAT: src = &fdata; break;
    case ONX_DOUBLE: src = &ddata; break;
    case ONX_INT64: src = &i64; break;
    case ONX_UINT32: case ONX_UINT64: src = &u64; break;
    default: src = &i32;
    }
    if (n_typed != src->n) return fail(c, ONX_ERR_INVALID, "tensor '%s' stores its data in a field that does not match its data type %d", t->name, dt);
    have = src->n;
  }
  if (have != count) {
    return fail(c, ONX_ERR_INVALID, "tensor '%s' has dims giving %lld value%s but its data holds %lld", t->name,
                (long long)count, count == 1 ? "" : "s", (long long)have);
  }
  double *v = (double *)alloc(c, (size_t)(count > 0 ? count : 1), sizeof(double));
  if (!v) return c->status;
  if (has_raw) {
    for (int64_t k = 0; k < count; k++) v[k] = raw_value(raw.p + (size_t)k * (size_t)sz, dt);
  } else if (count == 0) {
    /* nothing to copy */
  } else if (dt == ONX_FLOAT) {
    memcpy(v, fdata.data, (size_t)count * sizeof(double));
  } else if (dt == ONX_DOUBLE) {
    memcpy(v, ddata.data, (size_t)count * sizeof(double));
  } else if (dt == ONX_INT64) {
    for (int64_t k = 0; k < count; k++) v[k] = (double)((int64_t *)i64.data)[k];
  } else if (dt == ONX_UINT32 || dt == ONX_UINT64) {
    for (int64_t k = 0; k < count; k++) v[k] = (double)(uint64_t)((int64_t *)u64.data)[k];
  } else {
    for (int64_t k = 0; k < count; k++) v[k] = int32_field_value(((int64_t *)i32.data)[k], dt);
  }
  t->values = v;
  t->has_values = 1;
  return ONX_OK;
}

static int read_tensor(ctx *c, rd *r, int wt, const char *what, onx_tensor *t) {
  rd s;
  TRY(expect_wt(c, wt, 2, what));
  TRY(read_len(c, r, &s));
  return decode_tensor(c, s, t);
}

/* ---- AttributeProto ------------------------------------------------------ */

static int decode_attr(ctx *c, rd r, onx_attr *a) {
  vec floats = {0}, ints = {0}, strings = {0};
  int seen[12] = {0};
  uint32_t u32 = 0;
  a->name = "";
  while (r.p < r.end) {
    uint32_t f = 0;
    int wt = 0;
    TRY(read_key(c, &r, &f, &wt));
    switch (f) {
    case 1: TRY(read_string(c, &r, wt, "AttributeProto.name", &a->name)); break;
    case 20: TRY(read_int32(c, &r, wt, "AttributeProto.type", &a->type)); break;
    case 2: {
      TRY(expect_wt(c, wt, 5, "AttributeProto.f"));
      TRY(read_fixed32(c, &r, &u32));
      float fl;
      memcpy(&fl, &u32, 4);
      a->f = fl;
      seen[ONX_ATTR_FLOAT] = 1;
      break;
    }
    case 3: TRY(read_int64(c, &r, wt, "AttributeProto.i", &a->i)); seen[ONX_ATTR_INT] = 1; break;
    case 4: {
      TRY(read_string(c, &r, wt, "AttributeProto.s", &a->s));
      seen[ONX_ATTR_STRING] = 1;
      break;
    }
    case 5: {
      a->t = (onx_tensor *)alloc(c, 1, sizeof(onx_tensor));
      if (!a->t) return c->status;
      TRY(read_tensor(c, &r, wt, "AttributeProto.t", a->t));
      seen[ONX_ATTR_TENSOR] = 1;
      break;
    }
    case 6: TRY(skip_field(c, &r, wt)); seen[ONX_ATTR_GRAPH] = 1; break;
    case 7: TRY(read_repeated(c, &r, wt, 'f', "AttributeProto.floats", &floats)); seen[ONX_ATTR_FLOATS] = 1; break;
    case 8: TRY(read_repeated(c, &r, wt, 'v', "AttributeProto.ints", &ints)); seen[ONX_ATTR_INTS] = 1; break;
    case 9: TRY(push_string(c, &r, wt, "AttributeProto.strings", &strings)); seen[ONX_ATTR_STRINGS] = 1; break;
    case 10: TRY(skip_field(c, &r, wt)); seen[ONX_ATTR_TENSORS] = 1; break;
    case 11: TRY(skip_field(c, &r, wt)); seen[ONX_ATTR_GRAPHS] = 1; break;
    default: TRY(skip_field(c, &r, wt));
    }
  }
  if (a->type == ONX_ATTR_UNDEFINED) { /* files from before the type field */
    for (int k = 1; k < 12; k++)
      if (seen[k]) {
        a->type = k;
        break;
      }
  }
  if (a->type == ONX_ATTR_STRING && !a->s) a->s = "";
  if (a->type == ONX_ATTR_TENSOR && !a->t) return fail(c, ONX_ERR_INVALID, "attribute '%s' of type tensor has no tensor", a->name);
  a->n_floats = floats.n;
  a->floats = (double *)floats.data;
  a->n_ints = ints.n;
  a->ints = (int64_t *)ints.data;
  a->n_strings = strings.n;
  a->strings = (const char **)strings.data;
  return ONX_OK;
}

/* ---- NodeProto ----------------------------------------------------------- */

static int decode_node(ctx *c, rd r, onx_node *nd) {
  vec in = {0}, out = {0}, attr = {0};
  nd->name = nd->op_type = nd->domain = "";
  while (r.p < r.end) {
    uint32_t f = 0;
    int wt = 0;
    TRY(read_key(c, &r, &f, &wt));
    switch (f) {
    case 1: TRY(push_string(c, &r, wt, "NodeProto.input", &in)); break;
    case 2: TRY(push_string(c, &r, wt, "NodeProto.output", &out)); break;
    case 3: TRY(read_string(c, &r, wt, "NodeProto.name", &nd->name)); break;
    case 4: TRY(read_string(c, &r, wt, "NodeProto.op_type", &nd->op_type)); break;
    case 7: TRY(read_string(c, &r, wt, "NodeProto.domain", &nd->domain)); break;
    case 5: {
      rd s;
      TRY(expect_wt(c, wt, 2, "NodeProto.attribute"));
      TRY(read_len(c, &r, &s));
      onx_attr *a = (onx_attr *)vec_push(c, &attr, sizeof(onx_attr));
      if (!a) return c->status;
      TRY(decode_attr(c, s, a));
      break;
    }
    default: TRY(skip_field(c, &r, wt));
    }
  }
  nd->n_in = in.n;
  nd->in = (const char **)in.data;
  nd->n_out = out.n;
  nd->out = (const char **)out.data;
  nd->n_attr = attr.n;
  nd->attr = (onx_attr *)attr.data;
  return ONX_OK;
}

/* ---- ValueInfoProto -------------------------------------------------------- */

static int decode_dim(ctx *c, rd r, onx_dim *d) {
  d->value = -1;
  d->param = NULL;
  while (r.p < r.end) {
    uint32_t f = 0;
    int wt = 0;
    TRY(read_key(c, &r, &f, &wt));
    if (f == 1) {
      TRY(read_int64(c, &r, wt, "Dimension.dim_value", &d->value));
      if (d->value < 0) d->value = -1;
    } else if (f == 2) {
      TRY(read_string(c, &r, wt, "Dimension.dim_param", &d->param));
    } else {
      TRY(skip_field(c, &r, wt));
    }
  }
  return ONX_OK;
}

static int decode_tensor_type(ctx *c, rd r, onx_value_info *v) {
  vec dims = {0};
  while (r.p < r.end) {
    uint32_t f = 0;
    int wt = 0;
    TRY(read_key(c, &r, &f, &wt));
    if (f == 1) {
      TRY(read_int32(c, &r, wt, "TypeProto.Tensor.elem_type", &v->elem_type));
    } else if (f == 2) {
      rd s;
      TRY(expect_wt(c, wt, 2, "TypeProto.Tensor.shape"));
      TRY(read_len(c, &r, &s));
      v->has_shape = 1;
      while (s.p < s.end) {
        uint32_t sf = 0;
        int swt = 0;
        TRY(read_key(c, &s, &sf, &swt));
        if (sf == 1) {
          rd ds;
          TRY(expect_wt(c, swt, 2, "TensorShapeProto.dim"));
          TRY(read_len(c, &s, &ds));
          onx_dim *d = (onx_dim *)vec_push(c, &dims, sizeof(onx_dim));
          if (!d) return c->status;
          TRY(decode_dim(c, ds, d));
        } else {
          TRY(skip_field(c, &s, swt));
        }
      }
    } else {
      TRY(skip_field(c, &r, wt));
    }
  }
  v->n_dims = dims.n;
  v->dims = (onx_dim *)dims.data;
  return ONX_OK;
}

static int decode_value_info(ctx *c, rd r, onx_value_info *v) {
  v->name = "";
  while (r.p < r.end) {
    uint32_t f = 0;
    int wt = 0;
    TRY(read_key(c, &r, &f, &wt));
    if (f == 1) {
      TRY(read_string(c, &r, wt, "ValueInfoProto.name", &v->name));
    } else if (f == 2) {
      rd t;
      TRY(expect_wt(c, wt, 2, "ValueInfoProto.type"));
      TRY(read_len(c, &r, &t));
      while (t.p < t.end) { /* TypeProto: only tensor_type (1) is read */
        uint32_t tf = 0;
        int twt = 0;
        TRY(read_key(c, &t, &tf, &twt));
        if (tf == 1) {
          rd tt;
          TRY(expect_wt(c, twt, 2, "TypeProto.tensor_type"));
          TRY(read_len(c, &t, &tt));
          TRY(decode_tensor_type(c, tt, v));
        } else {
          TRY(skip_field(c, &t, twt));
        }
      }
    } else {
      TRY(skip_field(c, &r, wt));
    }
  }
  return ONX_OK;
}

/* ---- GraphProto and ModelProto -------------------------------------------- */

static int push_value_info(ctx *c, rd *r, int wt, const char *what, vec *v) {
  rd s;
  TRY(expect_wt(c, wt, 2, what));
  TRY(read_len(c, r, &s));
  onx_value_info *vi = (onx_value_info *)vec_push(c, v, sizeof(onx_value_info));
  if (!vi) return c->status;
  return decode_value_info(c, s, vi);
}

static int decode_graph(ctx *c, rd r, onx_graph *g) {
  vec nodes = {0}, init = {0}, inputs = {0}, outputs = {0}, vinfo = {0};
  g->name = "";
  while (r.p < r.end) {
    uint32_t f = 0;
    int wt = 0;
    TRY(read_key(c, &r, &f, &wt));
    switch (f) {
    case 1: {
      rd s;
      TRY(expect_wt(c, wt, 2, "GraphProto.node"));
      TRY(read_len(c, &r, &s));
      onx_node *nd = (onx_node *)vec_push(c, &nodes, sizeof(onx_node));
      if (!nd) return c->status;
      TRY(decode_node(c, s, nd));
      break;
    }
    case 2: TRY(read_string(c, &r, wt, "GraphProto.name", &g->name)); break;
    case 5: {
      onx_tensor *t = (onx_tensor *)vec_push(c, &init, sizeof(onx_tensor));
      if (!t) return c->status;
      TRY(read_tensor(c, &r, wt, "GraphProto.initializer", t));
      break;
    }
    case 15: return fail(c, ONX_ERR_UNSUPPORTED, "the graph has sparse initializers, which cphap does not read; store them as dense tensors");
    case 11: TRY(push_value_info(c, &r, wt, "GraphProto.input", &inputs)); break;
    case 12: TRY(push_value_info(c, &r, wt, "GraphProto.output", &outputs)); break;
    case 13: TRY(push_value_info(c, &r, wt, "GraphProto.value_info", &vinfo)); break;
    default: TRY(skip_field(c, &r, wt));
    }
  }
  g->n_nodes = nodes.n;
  g->nodes = (onx_node *)nodes.data;
  g->n_init = init.n;
  g->init = (onx_tensor *)init.data;
  g->n_inputs = inputs.n;
  g->inputs = (onx_value_info *)inputs.data;
  g->n_outputs = outputs.n;
  g->outputs = (onx_value_info *)outputs.data;
  g->n_value_info = vinfo.n;
  g->value_info = (onx_value_info *)vinfo.data;
  return ONX_OK;
}

static int decode_model(ctx *c, rd r, onx_model *m) {
  vec od = {0}, ov = {0}, mk = {0}, mv = {0};
  m->producer_name = m->producer_version = m->domain = "";
  while (r.p < r.end) {
    uint32_t f = 0;
    int wt = 0;
    TRY(read_key(c, &r, &f, &wt));
    switch (f) {
    case 1: TRY(read_int64(c, &r, wt, "ModelProto.ir_version", &m->ir_version)); break;
    case 2: TRY(read_string(c, &r, wt, "ModelProto.producer_name", &m->producer_name)); break;
    case 3: TRY(read_string(c, &r, wt, "ModelProto.producer_version", &m->producer_version)); break;
    case 4: TRY(read_string(c, &r, wt, "ModelProto.domain", &m->domain)); break;
    case 5: TRY(read_int64(c, &r, wt, "ModelProto.model_version", &m->model_version)); break;
    case 7: {
      rd s;
      TRY(expect_wt(c, wt, 2, "ModelProto.graph"));
      TRY(read_len(c, &r, &s));
      if (m->has_graph) return fail(c, ONX_ERR_INVALID, "the model has more than one graph field");
      m->has_graph = 1;
      TRY(decode_graph(c, s, &m->graph));
      break;
    }
    case 8:
    case 14: {
      rd s;
      TRY(expect_wt(c, wt, 2, f == 8 ? "ModelProto.opset_import" : "ModelProto.metadata_props"));
      TRY(read_len(c, &r, &s));
      const char *str = "", *str2 = "";
      int64_t version = 0;
      while (s.p < s.end) {
        uint32_t sf = 0;
        int swt = 0;
        TRY(read_key(c, &s, &sf, &swt));
        if (sf == 1) TRY(read_string(c, &s, swt, "entry key/domain", &str));
        else if (sf == 2 && f == 8) TRY(read_int64(c, &s, swt, "OperatorSetIdProto.version", &version));
        else if (sf == 2) TRY(read_string(c, &s, swt, "StringStringEntryProto.value", &str2));
        else TRY(skip_field(c, &s, swt));
      }
      const char **k = (const char **)vec_push(c, f == 8 ? &od : &mk, sizeof(char *));
      if (!k) return c->status;
      *k = str;
      if (f == 8) {
        int64_t *v = (int64_t *)vec_push(c, &ov, sizeof(int64_t));
        if (!v) return c->status;
        *v = version;
      } else {
        const char **v = (const char **)vec_push(c, &mv, sizeof(char *));
        if (!v) return c->status;
        *v = str2;
      }
      break;
    }
    default: TRY(skip_field(c, &r, wt));
    }
  }
  m->n_opset = od.n;
  m->opset_domain = (const char **)od.data;
  m->opset_version = (int64_t *)ov.data;
  m->n_meta = mk.n;
  m->meta_key = (const char **)mk.data;
  m->meta_value = (const char **)mv.data;
  if (!m->has_graph) return fail(c, ONX_ERR_INVALID, "the file holds no graph (not an ONNX model?)");
  return ONX_OK;
}

int onx_decode(const uint8_t *buf, size_t len, onx_model *m, onx_arena **arena,
               size_t max_bytes, char *err, size_t err_len) {
  ctx c = {NULL, err, err_len, ONX_OK};
  if (err && err_len) err[0] = '\0';
  memset(m, 0, sizeof(*m));
  *arena = NULL;
  onx_arena *a = (onx_arena *)calloc(1, sizeof(onx_arena));
  if (!a) return fail(&c, ONX_ERR_ALLOC, "out of memory");
  if (max_bytes == 0) {
    size_t cap = (size_t)64 << 20;
    max_bytes = len > (SIZE_MAX - cap) / 32 ? SIZE_MAX : 32 * len + cap;
  }
  a->max_bytes = max_bytes;
  *arena = a;
  c.a = a;
  if (len == 0) return fail(&c, ONX_ERR_INVALID, "the file is empty");
  rd r = {buf, buf + len};
  return decode_model(&c, r, m);
}
