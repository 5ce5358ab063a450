/* Mutation fuzzing of the ONNX decoder (src/onnx_pb.c) under AddressSanitizer
 * and UndefinedBehaviorSanitizer. Standalone: no R. See tools/README.md.
 *
 *   gcc -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer \
 *       -fno-sanitize-recover=all -Isrc tools/fuzz_onnx_asan.c src/onnx_pb.c \
 *       -lm -o /tmp/fuzz_onnx_asan
 *   /tmp/fuzz_onnx_asan 200000 seed1.onnx seed2.onnx ...
 *
 * Prints the number of inputs, decoding errors per code and decoded models.
 * A crash or sanitizer report aborts the run (and is the bug). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_pb.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void) {
  uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

static size_t rnd_below(size_t n) {
  return n ? (size_t)(rnd() % n) : 0;
}

typedef struct {
  uint8_t *data;
  size_t len;
} buf;

static buf read_file(const char *path) {
  buf b = {NULL, 0};
  FILE *f = fopen(path, "rb");
  if (!f) return b;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  if (n > 0) {
    b.data = (uint8_t *)malloc((size_t)n);
    if (b.data && fread(b.data, 1, (size_t)n, f) == (size_t)n) b.len = (size_t)n;
  }
  fclose(f);
  return b;
}

/* One mutation of b (in place; b->data has room for cap bytes). */
static void mutate(buf *b, size_t cap, const buf *seeds, int n_seeds) {
  size_t n = b->len;
  if (n < 2) {
    for (int k = 0; k < 8 && b->len < cap; k++) b->data[b->len++] = (uint8_t)rnd();
    return;
  }
  size_t pos = rnd_below(n);
  switch (rnd_below(7)) {
  case 0: { /* bit flips */
    int k = 1 + (int)rnd_below(4);
    while (k--) b->data[rnd_below(n)] ^= (uint8_t)(1u << rnd_below(8));
    break;
  }
  case 1: /* truncation */
    b->len = pos;
    break;
  case 2: { /* a length after a key of wire type 2 */
    size_t p = pos;
    for (int t = 0; t < 32; t++) {
      size_t q = rnd_below(n - 1);
      if ((b->data[q] & 7) == 2) {
        p = q + 1;
        break;
      }
    }
    static const int deltas[] = {-3, -2, -1, 1, 2, 3, 64, 127};
    b->data[p] = (uint8_t)(b->data[p] + deltas[rnd_below(8)]);
    break;
  }
  case 3: { /* insertion */
    size_t k = 1 + rnd_below(8);
    if (n + k > cap) break;
    memmove(b->data + pos + k, b->data + pos, n - pos);
    for (size_t j = 0; j < k; j++) b->data[pos + j] = (uint8_t)rnd();
    b->len = n + k;
    break;
  }
  case 4: { /* deletion */
    size_t k = 1 + rnd_below(8);
    if (pos + k > n) k = n - pos;
    memmove(b->data + pos, b->data + pos + k, n - pos - k);
    b->len = n - k;
    break;
  }
  case 5: { /* interesting bytes */
    static const uint8_t v[] = {0, 1, 0x7f, 0x80, 0xff};
    b->data[pos] = v[rnd_below(5)];
    break;
  }
  default: { /* splice with another seed */
    const buf *o = &seeds[rnd_below((size_t)n_seeds)];
    size_t from = rnd_below(o->len);
    size_t k = o->len - from;
    if (pos + 1 + k > cap) k = cap - pos - 1;
    memcpy(b->data + pos + 1, o->data + from, k);
    b->len = pos + 1 + k;
  }
  }
}

/* Read every decoded value so the sanitizers see bad pointers. */
static double touch_tensor(const onx_tensor *t) {
  double s = (double)strlen(t->name) + t->data_type;
  for (int64_t k = 0; k < t->n_dims; k++) s += (double)t->dims[k];
  if (t->has_values)
    for (int64_t k = 0; k < t->n_values; k++) s += t->values[k] == t->values[k];
  return s;
}

static double touch_vi(const onx_value_info *v, int64_t n) {
  double s = 0;
  for (int64_t k = 0; k < n; k++) {
    s += (double)strlen(v[k].name) + v[k].elem_type;
    for (int64_t d = 0; d < v[k].n_dims; d++)
      s += (double)v[k].dims[d].value + (v[k].dims[d].param ? (double)strlen(v[k].dims[d].param) : 0);
  }
  return s;
}

static double touch(const onx_model *m) {
  double s = (double)strlen(m->producer_name) + (double)strlen(m->producer_version);
  for (int64_t k = 0; k < m->n_opset; k++) s += (double)strlen(m->opset_domain[k]) + (double)m->opset_version[k];
  for (int64_t k = 0; k < m->n_meta; k++) s += (double)strlen(m->meta_key[k]) + (double)strlen(m->meta_value[k]);
  const onx_graph *g = &m->graph;
  s += (double)strlen(g->name);
  for (int64_t k = 0; k < g->n_init; k++) s += touch_tensor(&g->init[k]);
  for (int64_t k = 0; k < g->n_nodes; k++) {
    const onx_node *nd = &g->nodes[k];
    s += (double)strlen(nd->name) + (double)strlen(nd->op_type) + (double)strlen(nd->domain);
    for (int64_t j = 0; j < nd->n_in; j++) s += (double)strlen(nd->in[j]);
    for (int64_t j = 0; j < nd->n_out; j++) s += (double)strlen(nd->out[j]);
    for (int64_t j = 0; j < nd->n_attr; j++) {
      const onx_attr *a = &nd->attr[j];
      s += (double)strlen(a->name) + a->type + (a->f == a->f) + (double)(a->i & 1);
      if (a->s) s += (double)strlen(a->s);
      if (a->t) s += touch_tensor(a->t);
      for (int64_t q = 0; q < a->n_floats; q++) s += a->floats[q] == a->floats[q];
      for (int64_t q = 0; q < a->n_ints; q++) s += (double)(a->ints[q] & 1);
      for (int64_t q = 0; q < a->n_strings; q++) s += (double)strlen(a->strings[q]);
    }
  }
  s += touch_vi(g->inputs, g->n_inputs) + touch_vi(g->outputs, g->n_outputs) +
       touch_vi(g->value_info, g->n_value_info);
  return s;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s n_inputs seed.onnx [seed.onnx ...]\n", argv[0]);
    return 2;
  }
  long n_inputs = atol(argv[1]);
  int n_seeds = argc - 2;
  buf *seeds = (buf *)calloc((size_t)n_seeds, sizeof(buf));
  size_t max_len = 0;
  for (int k = 0; k < n_seeds; k++) {
    seeds[k] = read_file(argv[k + 2]);
    if (!seeds[k].len) {
      fprintf(stderr, "cannot read %s\n", argv[k + 2]);
      return 2;
    }
    if (seeds[k].len > max_len) max_len = seeds[k].len;
  }
  size_t cap = 2 * max_len + 64;
  buf b = {(uint8_t *)malloc(cap), 0};
  long codes[8] = {0};
  double sink = 0;
  char err[512];
  for (long i = 0; i < n_inputs; i++) {
    const buf *s = &seeds[rnd_below((size_t)n_seeds)];
    memcpy(b.data, s->data, s->len);
    b.len = s->len;
    int n_mut = 1 + (int)rnd_below(3);
    for (int k = 0; k < n_mut; k++) mutate(&b, cap, seeds, n_seeds);
    /* decode from an exact-size copy so reads past the end are caught */
    uint8_t *exact = (uint8_t *)malloc(b.len ? b.len : 1);
    if (b.len) memcpy(exact, b.data, b.len);
    onx_model m;
    onx_arena *arena = NULL;
    int st = onx_decode(exact, b.len, &m, &arena, 0, err, sizeof err);
    if (st == ONX_OK) sink += touch(&m);
    else sink += (double)strlen(err);
    onx_arena_free(arena);
    free(exact);
    codes[st < 0 || st > 7 ? 7 : st]++;
  }
  printf("inputs %ld\ndecoded %ld\nerrors %ld (truncated %ld, malformed %ld, alloc %ld, unsupported %ld, invalid %ld)\ncrashes 0\n",
         n_inputs, codes[0], n_inputs - codes[0], codes[1], codes[2], codes[3], codes[4], codes[5]);
  fprintf(stderr, "(checksum %g)\n", sink);
  for (int k = 0; k < n_seeds; k++) free(seeds[k].data);
  free(seeds);
  free(b.data);
  return 0;
}
