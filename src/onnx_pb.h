/* A protobuf wire-format decoder for the parts of an ONNX model that cphap
 * reads (ModelProto, GraphProto, NodeProto, TensorProto, AttributeProto,
 * ValueInfoProto). Plain C, no R headers, no recursion (nested graphs of
 * If/Loop nodes are skipped, so the nesting depth is that of the schema).
 *
 * Every varint and length is checked against the buffer; counts and sizes are
 * int64/size_t with overflow checks; all memory comes from one arena that
 * onx_arena_free() releases, whatever the outcome. Errors are a status code
 * and a message; the decoder never aborts. */
#ifndef CP_ONNX_PB_H
#define CP_ONNX_PB_H

#include <stddef.h>
#include <stdint.h>

enum {
  ONX_OK = 0,
  ONX_ERR_TRUNCATED = 1, /* a varint or length runs past the end */
  ONX_ERR_MALFORMED = 2, /* invalid wire data (bad wire type, field 0, ...) */
  ONX_ERR_ALLOC = 3,     /* out of memory or over the memory budget */
  ONX_ERR_UNSUPPORTED = 4, /* valid but refused (external data, ...) */
  ONX_ERR_INVALID = 5    /* valid protobuf, invalid ONNX (sizes, strings) */
};

/* ONNX TensorProto.DataType values used by cphap. */
enum {
  ONX_FLOAT = 1, ONX_UINT8 = 2, ONX_INT8 = 3, ONX_UINT16 = 4, ONX_INT16 = 5,
  ONX_INT32 = 6, ONX_INT64 = 7, ONX_STRING = 8, ONX_BOOL = 9, ONX_FLOAT16 = 10,
  ONX_DOUBLE = 11, ONX_UINT32 = 12, ONX_UINT64 = 13, ONX_BFLOAT16 = 16
};

/* AttributeProto.AttributeType values. */
enum {
  ONX_ATTR_UNDEFINED = 0, ONX_ATTR_FLOAT = 1, ONX_ATTR_INT = 2, ONX_ATTR_STRING = 3,
  ONX_ATTR_TENSOR = 4, ONX_ATTR_GRAPH = 5, ONX_ATTR_FLOATS = 6, ONX_ATTR_INTS = 7,
  ONX_ATTR_STRINGS = 8, ONX_ATTR_TENSORS = 9, ONX_ATTR_GRAPHS = 10
};

typedef struct onx_arena onx_arena;

typedef struct {
  const char *name;
  int data_type;
  int64_t n_dims;
  int64_t *dims;
  int has_values;   /* 0 for string / complex tensors (values not decoded) */
  int64_t n_values; /* product of dims (1 for a scalar) */
  double *values;   /* n_values numbers, row-major (C order) */
} onx_tensor;

typedef struct {
  const char *name;
  int type;          /* ONX_ATTR_* (inferred when the file leaves it 0) */
  double f;
  int64_t i;
  const char *s;
  onx_tensor *t;
  int64_t n_floats;
  double *floats;
  int64_t n_ints;
  int64_t *ints;
  int64_t n_strings;
  const char **strings;
} onx_attr;

typedef struct {
  const char *name, *op_type, *domain;
  int64_t n_in, n_out, n_attr;
  const char **in, **out;
  onx_attr *attr;
} onx_node;

typedef struct {
  int64_t value;     /* -1 when symbolic or unknown */
  const char *param; /* the symbolic name, or NULL */
} onx_dim;

typedef struct {
  const char *name;
  int elem_type;     /* 0 when not a tensor type or missing */
  int has_shape;
  int64_t n_dims;
  onx_dim *dims;
} onx_value_info;

typedef struct {
  const char *name;
  int64_t n_nodes, n_init, n_inputs, n_outputs, n_value_info;
  onx_node *nodes;
  onx_tensor *init;
  onx_value_info *inputs, *outputs, *value_info;
} onx_graph;

typedef struct {
  int64_t ir_version, model_version;
  const char *producer_name, *producer_version, *domain;
  int64_t n_opset;
  const char **opset_domain;
  int64_t *opset_version;
  int64_t n_meta;
  const char **meta_key, **meta_value;
  int has_graph;
  onx_graph graph;
} onx_model;

/* Decode buf[0, len) into *m. *arena receives the arena holding every
 * pointer of *m (also on failure; free it with onx_arena_free). On failure
 * err (err_len bytes) holds a message. max_bytes caps the arena (0: a
 * default of 32 x len + 64 MB). */
int onx_decode(const uint8_t *buf, size_t len, onx_model *m, onx_arena **arena,
               size_t max_bytes, char *err, size_t err_len);
void onx_arena_free(onx_arena *a);

#endif
