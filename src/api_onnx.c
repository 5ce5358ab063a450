/* .Call wrapper of the ONNX decoder (onnx_pb.c): a raw vector in, a plain R
 * list out (see R/onnx.R for its layout). The decoder's arena is released by
 * R_ExecWithCleanup also when building the list raises an R error. */
#include <string.h>
#include "api_decl.h"
#include "onnx_pb.h"

static SEXP mk_str(const char *s) {
  return Rf_mkCharCE(s ? s : "", CE_UTF8);
}

static SEXP str_vec(const char **s, int64_t n) {
  SEXP out = PROTECT(Rf_allocVector(STRSXP, (R_xlen_t)n));
  for (int64_t k = 0; k < n; k++) SET_STRING_ELT(out, (R_xlen_t)k, mk_str(s[k]));
  UNPROTECT(1);
  return out;
}

static SEXP scalar_str(const char *s) {
  SEXP out = PROTECT(Rf_allocVector(STRSXP, 1));
  SET_STRING_ELT(out, 0, mk_str(s));
  UNPROTECT(1);
  return out;
}

static SEXP i64_vec(const int64_t *v, int64_t n) {
  SEXP out = PROTECT(Rf_allocVector(REALSXP, (R_xlen_t)n));
  for (int64_t k = 0; k < n; k++) REAL(out)[k] = (double)v[k];
  UNPROTECT(1);
  return out;
}

static SEXP tensor_r(const onx_tensor *t) {
  static const char *nm[] = {"name", "data_type", "dims", "values"};
  SEXP out = PROTECT(cp_api_named_list(4, nm));
  SET_VECTOR_ELT(out, 0, scalar_str(t->name));
  SET_VECTOR_ELT(out, 1, Rf_ScalarInteger(t->data_type));
  SET_VECTOR_ELT(out, 2, i64_vec(t->dims, t->n_dims));
  if (t->has_values) {
    SEXP v = Rf_allocVector(REALSXP, (R_xlen_t)t->n_values);
    SET_VECTOR_ELT(out, 3, v);
    if (t->n_values > 0) memcpy(REAL(v), t->values, (size_t)t->n_values * sizeof(double));
  }
  UNPROTECT(1);
  return out;
}

static const char *attr_type_name(int type) {
  switch (type) {
  case ONX_ATTR_FLOAT: return "float";
  case ONX_ATTR_INT: return "int";
  case ONX_ATTR_STRING: return "string";
  case ONX_ATTR_TENSOR: return "tensor";
  case ONX_ATTR_GRAPH: return "graph";
  case ONX_ATTR_FLOATS: return "floats";
  case ONX_ATTR_INTS: return "ints";
  case ONX_ATTR_STRINGS: return "strings";
  case ONX_ATTR_TENSORS: return "tensors";
  case ONX_ATTR_GRAPHS: return "graphs";
  default: return "other";
  }
}

static SEXP attr_value(const onx_attr *a) {
  switch (a->type) {
  case ONX_ATTR_FLOAT: return Rf_ScalarReal(a->f);
  case ONX_ATTR_INT: return Rf_ScalarReal((double)a->i);
  case ONX_ATTR_STRING: return scalar_str(a->s);
  case ONX_ATTR_TENSOR: return tensor_r(a->t);
  case ONX_ATTR_FLOATS: {
    SEXP v = PROTECT(Rf_allocVector(REALSXP, (R_xlen_t)a->n_floats));
    if (a->n_floats) memcpy(REAL(v), a->floats, (size_t)a->n_floats * sizeof(double));
    UNPROTECT(1);
    return v;
  }
  case ONX_ATTR_INTS: return i64_vec(a->ints, a->n_ints);
  case ONX_ATTR_STRINGS: return str_vec(a->strings, a->n_strings);
  default: return R_NilValue;
  }
}

static SEXP node_r(const onx_node *nd) {
  static const char *nm[] = {"name", "op_type", "domain", "input", "output", "attributes", "attr_types"};
  SEXP out = PROTECT(cp_api_named_list(7, nm));
  SET_VECTOR_ELT(out, 0, scalar_str(nd->name));
  SET_VECTOR_ELT(out, 1, scalar_str(nd->op_type));
  SET_VECTOR_ELT(out, 2, scalar_str(nd->domain));
  SET_VECTOR_ELT(out, 3, str_vec(nd->in, nd->n_in));
  SET_VECTOR_ELT(out, 4, str_vec(nd->out, nd->n_out));
  int na = (int)nd->n_attr;
  SEXP at = Rf_allocVector(VECSXP, na);
  SET_VECTOR_ELT(out, 5, at);
  SEXP ty = Rf_allocVector(STRSXP, na);
  SET_VECTOR_ELT(out, 6, ty);
  SEXP an = PROTECT(Rf_allocVector(STRSXP, na));
  for (int k = 0; k < na; k++) {
    SET_STRING_ELT(an, k, mk_str(nd->attr[k].name));
    SET_STRING_ELT(ty, k, Rf_mkChar(attr_type_name(nd->attr[k].type)));
    SET_VECTOR_ELT(at, k, attr_value(&nd->attr[k]));
  }
  Rf_setAttrib(at, R_NamesSymbol, an);
  Rf_setAttrib(ty, R_NamesSymbol, an);
  UNPROTECT(2);
  return out;
}

/* dims: double (NA when symbolic or unknown); params: the symbolic names
 * ("" for fixed dims). */
static SEXP value_info_r(const onx_value_info *v) {
  static const char *nm[] = {"name", "elem_type", "has_shape", "dims", "params"};
  SEXP out = PROTECT(cp_api_named_list(5, nm));
  SET_VECTOR_ELT(out, 0, scalar_str(v->name));
  SET_VECTOR_ELT(out, 1, Rf_ScalarInteger(v->elem_type));
  SET_VECTOR_ELT(out, 2, Rf_ScalarLogical(v->has_shape));
  SEXP d = Rf_allocVector(REALSXP, (R_xlen_t)v->n_dims);
  SET_VECTOR_ELT(out, 3, d);
  SEXP p = Rf_allocVector(STRSXP, (R_xlen_t)v->n_dims);
  SET_VECTOR_ELT(out, 4, p);
  for (int64_t k = 0; k < v->n_dims; k++) {
    REAL(d)[k] = v->dims[k].value < 0 ? NA_REAL : (double)v->dims[k].value;
    SET_STRING_ELT(p, (R_xlen_t)k, mk_str(v->dims[k].param));
  }
  UNPROTECT(1);
  return out;
}

static SEXP vi_list(const onx_value_info *v, int64_t n) {
  SEXP out = PROTECT(Rf_allocVector(VECSXP, (R_xlen_t)n));
  for (int64_t k = 0; k < n; k++) SET_VECTOR_ELT(out, (R_xlen_t)k, value_info_r(&v[k]));
  UNPROTECT(1);
  return out;
}

static SEXP graph_r(const onx_graph *g) {
  static const char *nm[] = {"name", "nodes", "initializers", "inputs", "outputs", "value_info"};
  SEXP out = PROTECT(cp_api_named_list(6, nm));
  SET_VECTOR_ELT(out, 0, scalar_str(g->name));
  SEXP nodes = Rf_allocVector(VECSXP, (R_xlen_t)g->n_nodes);
  SET_VECTOR_ELT(out, 1, nodes);
  for (int64_t k = 0; k < g->n_nodes; k++) SET_VECTOR_ELT(nodes, (R_xlen_t)k, node_r(&g->nodes[k]));
  SEXP init = Rf_allocVector(VECSXP, (R_xlen_t)g->n_init);
  SET_VECTOR_ELT(out, 2, init);
  for (int64_t k = 0; k < g->n_init; k++) SET_VECTOR_ELT(init, (R_xlen_t)k, tensor_r(&g->init[k]));
  SET_VECTOR_ELT(out, 3, vi_list(g->inputs, g->n_inputs));
  SET_VECTOR_ELT(out, 4, vi_list(g->outputs, g->n_outputs));
  SET_VECTOR_ELT(out, 5, vi_list(g->value_info, g->n_value_info));
  UNPROTECT(1);
  return out;
}

static SEXP model_r(void *data) {
  const onx_model *m = (const onx_model *)data;
  static const char *nm[] = {"ir_version", "producer_name", "producer_version", "domain",
                             "model_version", "opset_domain", "opset_version", "metadata",
                             "graph"};
  SEXP out = PROTECT(cp_api_named_list(9, nm));
  SET_VECTOR_ELT(out, 0, Rf_ScalarReal((double)m->ir_version));
  SET_VECTOR_ELT(out, 1, scalar_str(m->producer_name));
  SET_VECTOR_ELT(out, 2, scalar_str(m->producer_version));
  SET_VECTOR_ELT(out, 3, scalar_str(m->domain));
  SET_VECTOR_ELT(out, 4, Rf_ScalarReal((double)m->model_version));
  SET_VECTOR_ELT(out, 5, str_vec(m->opset_domain, m->n_opset));
  SET_VECTOR_ELT(out, 6, i64_vec(m->opset_version, m->n_opset));
  SEXP meta = str_vec(m->meta_value, m->n_meta);
  SET_VECTOR_ELT(out, 7, meta);
  Rf_setAttrib(meta, R_NamesSymbol, str_vec(m->meta_key, m->n_meta));
  SET_VECTOR_ELT(out, 8, graph_r(&m->graph));
  UNPROTECT(1);
  return out;
}

static void free_arena(void *data) {
  onx_arena_free((onx_arena *)data);
}

/* Decode an ONNX model held in a raw vector. On a decoding error, an R error
 * "ONNX decoding failed (<code>): <message>". */
SEXP cp_onnx_decode_r(SEXP bytes) {
  if (TYPEOF(bytes) != RAWSXP) Rf_error("'bytes' must be a raw vector");
  onx_model m;
  onx_arena *arena = NULL;
  char err[512];
  int st = onx_decode(RAW(bytes), (size_t)XLENGTH(bytes), &m, &arena, 0, err, sizeof err);
  if (st != ONX_OK) {
    onx_arena_free(arena);
    Rf_error("%s", err);
  }
  return R_ExecWithCleanup(model_r, &m, free_arena, arena);
}
