//! An update expression, assembled clause by clause.
//!
//! Attribute names always go through generated `#n…` placeholders, so reserved words
//! (`status`, `limit`, `plan`, `snapshot`…) need no care and a nested path such as
//! `steps.<step id>` works; values go through generated `:v…` placeholders. The same
//! name or an equal value reuses its placeholder. Clauses left empty are omitted.

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::builders::UpdateBuilder;
use aws_sdk_dynamodb::types::AttributeValue;

use super::dynamo::n;

/// Placeholders of attribute names, `#n…` to the name.
type Names = HashMap<String, String>;
/// Placeholders of values, `:v…` to the value.
type Values = HashMap<String, AttributeValue>;

/// The clauses, the condition and the placeholders of one update.
#[derive(Debug, Default)]
pub(super) struct UpdateExpr {
    set: Vec<String>,
    remove: Vec<String>,
    add: Vec<String>,
    delete: Vec<String>,
    conditions: Vec<String>,
    names: Vec<String>,
    values: Vec<AttributeValue>,
}

impl UpdateExpr {
    /// An update with no clause yet.
    pub(super) fn new() -> Self {
        Self::default()
    }

    /// The placeholder of an attribute name, for writing conditions and expressions.
    pub(super) fn name(&mut self, attr: &str) -> String {
        format!("#n{}", index_of(&mut self.names, attr.to_owned()))
    }

    /// The placeholder of a value, for writing conditions and expressions.
    pub(super) fn value(&mut self, v: AttributeValue) -> String {
        format!(":v{}", index_of(&mut self.values, v))
    }

    /// `SET attr = rhs`, `rhs` written with [`Self::name`] and [`Self::value`].
    pub(super) fn set_expr(&mut self, attr: &str, rhs: String) -> &mut Self {
        let a = self.name(attr);
        self.set.push(format!("{a} = {rhs}"));
        self
    }

    /// `SET attr = v`.
    pub(super) fn set(&mut self, attr: &str, v: AttributeValue) -> &mut Self {
        let v = self.value(v);
        self.set_expr(attr, v)
    }

    /// `SET a.b… = v`: a nested path, each part its own name.
    pub(super) fn set_path(&mut self, path: &[&str], v: AttributeValue) -> &mut Self {
        let path: Vec<String> = path.iter().map(|p| self.name(p)).collect();
        let v = self.value(v);
        self.set.push(format!("{} = {v}", path.join(".")));
        self
    }

    /// `SET attr = if_not_exists(attr, v)`: keeps a value already there.
    pub(super) fn set_if_absent(&mut self, attr: &str, v: AttributeValue) -> &mut Self {
        let (a, v) = (self.name(attr), self.value(v));
        self.set_expr(attr, format!("if_not_exists({a}, {v})"))
    }

    /// `SET attr = if_not_exists(attr, 0) + by`: a counter that may not exist yet.
    pub(super) fn increment(&mut self, attr: &str, by: i64) -> &mut Self {
        let (a, zero, by) = (self.name(attr), self.value(n(0)), self.value(n(by)));
        self.set_expr(attr, format!("if_not_exists({a}, {zero}) + {by}"))
    }

    /// `SET attr = v`, or `REMOVE attr` without a value.
    pub(super) fn set_or_remove(&mut self, attr: &str, v: Option<AttributeValue>) -> &mut Self {
        match v {
            Some(v) => self.set(attr, v),
            None => self.remove(attr),
        }
    }

    /// `REMOVE attr`.
    pub(super) fn remove(&mut self, attr: &str) -> &mut Self {
        let a = self.name(attr);
        self.remove.push(a);
        self
    }

    /// `ADD attr v`: adds to a number or a set.
    pub(super) fn add(&mut self, attr: &str, v: AttributeValue) -> &mut Self {
        let (a, v) = (self.name(attr), self.value(v));
        self.add.push(format!("{a} {v}"));
        self
    }

    /// `DELETE attr v`: takes elements out of a set.
    pub(super) fn delete(&mut self, attr: &str, v: AttributeValue) -> &mut Self {
        let (a, v) = (self.name(attr), self.value(v));
        self.delete.push(format!("{a} {v}"));
        self
    }

    /// A condition the write needs; several are ANDed, each parenthesised.
    pub(super) fn condition(&mut self, expr: String) -> &mut Self {
        self.conditions.push(expr);
        self
    }

    /// The update expression.
    fn update_expression(&self) -> String {
        [
            ("SET", &self.set),
            ("REMOVE", &self.remove),
            ("ADD", &self.add),
            ("DELETE", &self.delete),
        ]
        .into_iter()
        .filter(|(_, items)| !items.is_empty())
        .map(|(clause, items)| format!("{clause} {}", items.join(", ")))
        .collect::<Vec<_>>()
        .join(" ")
    }

    /// The condition expression, if any.
    fn condition_expression(&self) -> Option<String> {
        match self.conditions.as_slice() {
            [] => None,
            [one] => Some(one.clone()),
            many => Some(format!("({})", many.join(") AND ("))),
        }
    }

    /// The placeholder maps; `None` when empty, as DynamoDB rejects empty maps.
    fn maps(self) -> (Option<Names>, Option<Values>) {
        let names: Names = self
            .names
            .into_iter()
            .enumerate()
            .map(|(i, a)| (format!("#n{i}"), a))
            .collect();
        let values: Values = self
            .values
            .into_iter()
            .enumerate()
            .map(|(i, v)| (format!(":v{i}"), v))
            .collect();
        (
            (!names.is_empty()).then_some(names),
            (!values.is_empty()).then_some(values),
        )
    }

    /// Puts the expressions and placeholders on a transaction's update.
    pub(super) fn apply_to_update(self, b: UpdateBuilder) -> UpdateBuilder {
        let (update, condition) = (self.update_expression(), self.condition_expression());
        let (names, values) = self.maps();
        b.update_expression(update)
            .set_condition_expression(condition)
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values)
    }

    /// Puts the expressions and placeholders on an `UpdateItem` request.
    pub(super) fn apply_to_request(self, b: UpdateItemFluentBuilder) -> UpdateItemFluentBuilder {
        let (update, condition) = (self.update_expression(), self.condition_expression());
        let (names, values) = self.maps();
        b.update_expression(update)
            .set_condition_expression(condition)
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values)
    }
}

/// Where `x` is in `list`, added at the end if it is not there yet.
fn index_of<T: PartialEq>(list: &mut Vec<T>, x: T) -> usize {
    list.iter().position(|y| *y == x).unwrap_or_else(|| {
        list.push(x);
        list.len() - 1
    })
}

/// An update as tests compare it: the update expression, the condition, and the name
/// and value placeholders in order.
#[cfg(test)]
pub(super) type Rendered = (
    String,
    Option<String>,
    std::collections::BTreeMap<String, String>,
    std::collections::BTreeMap<String, AttributeValue>,
);

#[cfg(test)]
impl UpdateExpr {
    /// What the update sends, for comparing in tests.
    pub(super) fn render(self) -> Rendered {
        let (update, condition) = (self.update_expression(), self.condition_expression());
        let (names, values) = self.maps();
        let (names, values) = (names.unwrap_or_default(), values.unwrap_or_default());
        (
            update,
            condition,
            names.into_iter().collect(),
            values.into_iter().collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::store::dynamo::s;

    fn names(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn values(pairs: &[(&str, AttributeValue)]) -> BTreeMap<String, AttributeValue> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn reserved_words_and_nested_paths_go_through_name_placeholders() {
        let mut u = UpdateExpr::new();
        u.set("status", s("done"))
            .set("limit", n(5))
            .set_path(&["steps", "okta.deactivate"], s("ok"));
        let (update, condition, names_, values_) = u.render();
        assert_eq!(update, "SET #n0 = :v0, #n1 = :v1, #n2.#n3 = :v2");
        assert_eq!(condition, None);
        assert_eq!(
            names_,
            names(&[
                ("#n0", "status"),
                ("#n1", "limit"),
                ("#n2", "steps"),
                ("#n3", "okta.deactivate")
            ])
        );
        assert_eq!(
            values_,
            values(&[(":v0", s("done")), (":v1", n(5)), (":v2", s("ok"))])
        );
    }

    #[test]
    fn a_name_or_an_equal_value_reuses_its_placeholder() {
        let mut u = UpdateExpr::new();
        assert_eq!(u.name("claim"), "#n0");
        assert_eq!(u.value(s("t1")), ":v0");
        assert_eq!(u.name("claim"), "#n0");
        assert_eq!(u.value(s("t1")), ":v0");
        assert_eq!(u.value(s("t2")), ":v1");
        assert_eq!(u.value(n(1)), ":v2");
    }

    #[test]
    fn empty_clauses_and_maps_are_omitted() {
        let mut u = UpdateExpr::new();
        u.remove("reason");
        let (update, condition, _, values_) = u.render();
        assert_eq!(update, "REMOVE #n0");
        assert_eq!(condition, None);
        assert!(values_.is_empty());
        let u = UpdateExpr::new();
        assert_eq!(u.update_expression(), "");
        assert_eq!(u.maps(), (None, None));
    }

    #[test]
    fn several_conditions_are_anded_each_parenthesised() {
        let mut u = UpdateExpr::new();
        u.condition("a OR b".into());
        assert_eq!(u.condition_expression().as_deref(), Some("a OR b"));
        u.condition("c OR d".into());
        u.condition("e".into());
        assert_eq!(
            u.condition_expression().as_deref(),
            Some("(a OR b) AND (c OR d) AND (e)")
        );
    }

    #[test]
    fn counters_keep_a_missing_attribute_at_zero() {
        let mut u = UpdateExpr::new();
        u.increment("runs", 1).set_if_absent("steps", n(7));
        let (update, _, names_, values_) = u.render();
        assert_eq!(
            update,
            "SET #n0 = if_not_exists(#n0, :v0) + :v1, #n1 = if_not_exists(#n1, :v2)"
        );
        assert_eq!(names_, names(&[("#n0", "runs"), ("#n1", "steps")]));
        assert_eq!(
            values_,
            values(&[(":v0", n(0)), (":v1", n(1)), (":v2", n(7))])
        );
    }

    /// `settle_job`, deferred, without a reason: the clauses in the order they are added.
    #[test]
    fn settle_shape() {
        let mut u = UpdateExpr::new();
        let (claim, token) = (u.name("claim"), u.value(s("t1")));
        u.condition(format!("{claim} = {token}"));
        u.set("status", s("retrying"))
            .set("finished_at", s("2026-11-23T10:00:00.000Z"))
            .set_or_remove("reason", None)
            .set_or_remove("last_error", Some(s("429")))
            .remove("claim")
            .remove("claim_expires_ms")
            .set("not_before_ms", n(99));
        let (attempts, one) = (u.name("attempts"), u.value(n(1)));
        u.set_expr("attempts", format!("{attempts} - {one}"))
            .increment("deferrals", 1);
        let (update, condition, names_, values_) = u.render();
        assert_eq!(
            update,
            "SET #n1 = :v1, #n2 = :v2, #n4 = :v3, #n6 = :v4, #n7 = #n7 - :v5, \
             #n8 = if_not_exists(#n8, :v6) + :v5 REMOVE #n3, #n0, #n5"
        );
        assert_eq!(condition.as_deref(), Some("#n0 = :v0"));
        assert_eq!(
            names_,
            names(&[
                ("#n0", "claim"),
                ("#n1", "status"),
                ("#n2", "finished_at"),
                ("#n3", "reason"),
                ("#n4", "last_error"),
                ("#n5", "claim_expires_ms"),
                ("#n6", "not_before_ms"),
                ("#n7", "attempts"),
                ("#n8", "deferrals"),
            ])
        );
        assert_eq!(values_.len(), 7);
        assert_eq!(values_[":v5"], n(1));
        assert_eq!(values_[":v6"], n(0));
    }

    /// The user's state: the condition reuses the value it sets.
    #[test]
    fn state_shape() {
        let p = s("2026-11-23T10:00:00.250Z");
        let mut u = UpdateExpr::new();
        u.set("last_event_published", p.clone()).remove("snapshot");
        let (last, v) = (u.name("last_event_published"), u.value(p));
        u.condition(format!("attribute_not_exists({last}) OR {last} <= {v}"));
        let (update, condition, names_, _) = u.render();
        assert_eq!(update, "SET #n0 = :v0 REMOVE #n1");
        assert_eq!(
            condition.as_deref(),
            Some("attribute_not_exists(#n0) OR #n0 <= :v0")
        );
        assert_eq!(
            names_,
            names(&[("#n0", "last_event_published"), ("#n1", "snapshot")])
        );
    }

    /// `fuse_admit` holding a listed job, and `fuse_release`: ADD and DELETE clauses.
    #[test]
    fn fuse_shapes() {
        let job = AttributeValue::Ss(vec!["USER#00u1/JOB#1".into()]);
        let mut u = UpdateExpr::new();
        u.set("version", n(3))
            .set("last_held_at", s("now"))
            .add("held_count", n(1))
            .add("held_jobs", job.clone());
        let (v, current) = (u.name("version"), u.value(n(2)));
        u.condition(format!("attribute_not_exists({v}) OR {v} = {current}"));
        let (update, condition, _, values_) = u.render();
        assert_eq!(update, "SET #n0 = :v0, #n1 = :v1 ADD #n2 :v2, #n3 :v3");
        assert_eq!(
            condition.as_deref(),
            Some("attribute_not_exists(#n0) OR #n0 = :v4")
        );
        assert_eq!(values_[":v3"], job);

        let mut u = UpdateExpr::new();
        u.delete("held_jobs", job).add("held_count", n(-1));
        let pk = u.name("pk");
        u.condition(format!("attribute_exists({pk})"));
        let (update, condition, names_, _) = u.render();
        assert_eq!(update, "ADD #n1 :v1 DELETE #n0 :v0");
        assert_eq!(condition.as_deref(), Some("attribute_exists(#n2)"));
        assert_eq!(
            names_,
            names(&[("#n0", "held_jobs"), ("#n1", "held_count"), ("#n2", "pk")])
        );
    }

    #[test]
    fn appliers_put_everything_on_the_request() {
        let mut u = UpdateExpr::new();
        u.set("dry_run", AttributeValue::Bool(true));
        u.condition("attribute_exists(pk)".into());
        let update = u
            .apply_to_update(
                UpdateBuilder::default()
                    .table_name("t")
                    .set_key(Some(HashMap::new())),
            )
            .build()
            .unwrap();
        assert_eq!(update.update_expression(), "SET #n0 = :v0");
        assert_eq!(update.condition_expression(), Some("attribute_exists(pk)"));
        assert_eq!(
            update.expression_attribute_names(),
            Some(&HashMap::from([("#n0".to_string(), "dry_run".to_string())]))
        );
        assert_eq!(
            update.expression_attribute_values(),
            Some(&HashMap::from([(
                ":v0".to_string(),
                AttributeValue::Bool(true)
            )]))
        );

        let mut u = UpdateExpr::new();
        u.remove("reason");
        let update = u
            .apply_to_update(
                UpdateBuilder::default()
                    .table_name("t")
                    .set_key(Some(HashMap::new())),
            )
            .build()
            .unwrap();
        assert_eq!(update.condition_expression(), None);
        assert_eq!(update.expression_attribute_values(), None);
    }
}
