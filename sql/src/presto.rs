//! Athena SQL that DataFusion parses but does not plan, rewritten before planning.
//!
//! * `FROM t CROSS JOIN UNNEST(a[, b…]) AS u(x[, y…])` (also `FROM t, UNNEST(…) AS u(x)`):
//!   DataFusion 55 has no lateral `UNNEST` in `FROM`, so the table becomes
//!   `(SELECT *, unnest(a) AS x FROM t) AS t` and `u.x` becomes `t.x`. The filters of the
//!   outer query still reach the table scan, partition pruning included.

use std::ops::ControlFlow;

use datafusion::execution::context::SQLOptions;
use datafusion::prelude::{DataFrame, SessionContext};
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::{
    visit_expressions_mut, Expr, Ident, Join, JoinConstraint, JoinOperator, Query, Select, SetExpr,
    Statement, TableFactor, VisitMut, VisitorMut,
};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::Parser;

use crate::SqlError;

/// Plans `sql` as Athena would read it (see the module documentation), checks it against
/// `options`, and returns the frame to run.
pub async fn sql(
    ctx: &SessionContext,
    sql: &str,
    options: SQLOptions,
) -> Result<DataFrame, SqlError> {
    let state = ctx.state();
    let dialect = state.config().options().sql_parser.dialect;
    let mut statement = state.sql_to_statement(sql, &dialect)?;
    if let DfStatement::Statement(statement) = &mut statement {
        rewrite(statement)?;
    }
    let plan = state.statement_to_plan(statement).await?;
    options.verify_plan(&plan)?;
    Ok(ctx.execute_logical_plan(plan).await?)
}

/// Rewrites `statement` in place.
pub fn rewrite(statement: &mut Statement) -> Result<(), SqlError> {
    let mut rewriter = UnnestRewriter::default();
    if let ControlFlow::Break(error) = statement.visit(&mut rewriter) {
        return Err(error);
    }
    if rewriter.renames.is_empty() {
        return Ok(());
    }
    let renames = rewriter.renames;
    let _ = visit_expressions_mut(statement, |expr| {
        if let Expr::CompoundIdentifier(parts) = expr {
            if parts.len() == 2 {
                if let Some((_, table)) = renames
                    .iter()
                    .find(|(alias, _)| alias.value.eq_ignore_ascii_case(&parts[0].value))
                {
                    parts[0] = table.clone();
                }
            }
        }
        ControlFlow::<()>::Continue(())
    });
    Ok(())
}

#[derive(Default)]
struct UnnestRewriter {
    /// `(unnest alias, table name)`: `u.x` is written `t.x` after the rewrite.
    renames: Vec<(Ident, Ident)>,
}

impl VisitorMut for UnnestRewriter {
    type Break = SqlError;

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<SqlError> {
        match rewrite_set_expr(&mut query.body, &mut self.renames) {
            Ok(()) => ControlFlow::Continue(()),
            Err(error) => ControlFlow::Break(error),
        }
    }
}

fn rewrite_set_expr(body: &mut SetExpr, renames: &mut Vec<(Ident, Ident)>) -> Result<(), SqlError> {
    match body {
        SetExpr::Select(select) => rewrite_select(select, renames),
        SetExpr::SetOperation { left, right, .. } => {
            rewrite_set_expr(left, renames)?;
            rewrite_set_expr(right, renames)
        }
        _ => Ok(()),
    }
}

fn is_plain_unnest(factor: &TableFactor) -> bool {
    matches!(
        factor,
        TableFactor::UNNEST {
            with_offset: false,
            with_ordinality: false,
            ..
        }
    )
}

fn is_cross_unnest(join: &Join) -> bool {
    let cross = matches!(
        join.join_operator,
        JoinOperator::CrossJoin(JoinConstraint::None)
    );
    cross && is_plain_unnest(&join.relation)
}

fn unsupported(message: &str) -> SqlError {
    SqlError::DataFusion(datafusion::error::DataFusionError::NotImplemented(
        message.to_owned(),
    ))
}

fn rewrite_select(select: &mut Select, renames: &mut Vec<(Ident, Ident)>) -> Result<(), SqlError> {
    // `FROM t, UNNEST(…)`: the same as a cross join with the table before it.
    let mut i = 1;
    while i < select.from.len() {
        if select.from[i].joins.is_empty() && is_plain_unnest(&select.from[i].relation) {
            let unnest = select.from.remove(i);
            select.from[i - 1].joins.push(Join {
                relation: unnest.relation,
                global: false,
                join_operator: JoinOperator::CrossJoin(JoinConstraint::None),
            });
        } else {
            i += 1;
        }
    }
    for from in &mut select.from {
        let count = from.joins.iter().take_while(|j| is_cross_unnest(j)).count();
        if count == 0 {
            continue;
        }
        let name = match &from.relation {
            TableFactor::Table {
                alias: Some(alias), ..
            }
            | TableFactor::Derived {
                alias: Some(alias), ..
            } => alias.name.clone(),
            TableFactor::Table { name, .. } => match name.0.last().and_then(|p| p.as_ident()) {
                Some(ident) => ident.clone(),
                None => continue,
            },
            _ => continue,
        };
        let mut items = Vec::new();
        for join in from.joins.drain(..count) {
            let TableFactor::UNNEST {
                alias, array_exprs, ..
            } = join.relation
            else {
                continue;
            };
            let columns: Vec<Ident> = alias
                .as_ref()
                .map(|a| a.columns.iter().map(|c| c.name.clone()).collect())
                .unwrap_or_default();
            if columns.len() != array_exprs.len() {
                return Err(unsupported(
                    "CROSS JOIN UNNEST needs one column name per array: UNNEST(a) AS t(x)",
                ));
            }
            for (array, column) in array_exprs.iter().zip(&columns) {
                items.push(format!("unnest({array}) AS {column}"));
            }
            if let Some(alias) = alias {
                renames.push((alias.name, name.clone()));
            }
        }
        let text = format!(
            "(SELECT *, {} FROM {}) AS {name}",
            items.join(", "),
            from.relation
        );
        let dialect = GenericDialect {};
        from.relation = Parser::new(&dialect)
            .try_with_sql(&text)
            .and_then(|mut parser| parser.parse_table_factor())
            .map_err(|error| {
                SqlError::DataFusion(datafusion::error::DataFusionError::SQL(
                    Box::new(error),
                    None,
                ))
            })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(sql: &str) -> String {
        let dialect = GenericDialect {};
        let mut statements = Parser::parse_sql(&dialect, sql).expect("parse");
        rewrite(&mut statements[0]).expect("rewrite");
        statements[0].to_string()
    }

    #[test]
    fn cross_join_unnest_becomes_a_subquery_with_unnest() {
        assert_eq!(
            rewritten("SELECT t.ip, count(*) FROM panther_logs.aws_vpcflow CROSS JOIN UNNEST(p_any_ip_addresses) AS t(ip) WHERE day = 27 GROUP BY t.ip"),
            "SELECT aws_vpcflow.ip, count(*) FROM (SELECT *, unnest(p_any_ip_addresses) AS ip FROM panther_logs.aws_vpcflow) AS aws_vpcflow WHERE day = 27 GROUP BY aws_vpcflow.ip"
        );
        assert_eq!(
            rewritten("SELECT ip FROM all_logs AS l, UNNEST(l.p_any_ip_addresses) AS u(ip)"),
            "SELECT ip FROM (SELECT *, unnest(l.p_any_ip_addresses) AS ip FROM all_logs AS l) AS l"
        );
        let untouched = "SELECT a FROM t CROSS JOIN u";
        assert_eq!(rewritten(untouched), untouched);
    }
}
