// The filter language (DESIGN §4): one expression selects flows everywhere — queries, policy
// rules, routing, tenant scopes, the UI — compiled to a row predicate and to SQL that agree.

export { type CmpOp, type Comparison, FilterError, type FilterExpr, type FilterValue, filterFields } from './ast.js';
export { describeFields, type FieldDescription } from './fields.js';
export { parseFilter } from './parser.js';
export { compilePredicate, type FlowPredicate } from './predicate.js';
export { compileSql, type SqlFilter, type SqlOptions, type SqlParam } from './sql.js';
