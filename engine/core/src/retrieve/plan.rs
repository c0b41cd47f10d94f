//! The query-planning seam: a question (and the user's questions before it) in, the queries to
//! search for out, each with its say in their fusion, and the question as it stands alone — what
//! the answer is written for and checked against. [`FollowUpRule`], the stated rule of
//! [`super::followup`], is the first planner.

use crate::error::Result;
use crate::limits::MAX_QUERY_CHARS;
use crate::retrieve::{Mode, followup, model_plan};

/// One query to search for.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// The text searched for.
    pub text: String,
    /// Its say when the plan's rankings are fused (weighted RRF).
    pub weight: f32,
}

/// What a planner makes of a question.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The question as it stands alone (trimmed): the answer is written for it, and checked
    /// against it.
    pub standalone: String,
    /// The queries searched, at least one. Several are each searched and their rankings fused.
    pub queries: Vec<Query>,
}

impl Plan {
    /// The text of every query, in order: the question as asked first.
    pub fn texts(&self) -> Vec<&str> {
        self.queries.iter().map(|q| q.text.as_str()).collect()
    }

    /// The plan of a question that stands alone: searched for as asked.
    pub fn as_asked(question: &str) -> Plan {
        Plan {
            standalone: question.trim().to_string(),
            queries: vec![Query {
                text: question.to_string(),
                weight: 1.0,
            }],
        }
    }
}

/// Turns a question into what to search for.
pub trait QueryPlanner: Send + Sync {
    /// The plan for `question`, asked after `earlier` (the user's questions, oldest first; the
    /// answers are never read), to be searched in `mode` ([`Mode::Fusion`] asks for other
    /// phrasings of the question: a planner that cannot write them says so).
    fn plan(&self, question: &str, earlier: &[String], mode: Mode) -> Result<Plan>;
}

/// The follow-up rule: a question that refers back is searched for both as asked and with the
/// earlier question's key terms carried over ([`followup::standalone`]), with equal say — the
/// follow-up's own words keep their weight, the carried topic adds what "it" meant.
#[derive(Debug, Clone, Copy, Default)]
pub struct FollowUpRule;

impl QueryPlanner for FollowUpRule {
    fn plan(&self, question: &str, earlier: &[String], mode: Mode) -> Result<Plan> {
        if mode == Mode::Fusion {
            return Err(model_plan::fusion_needs_a_writer());
        }
        let mut standalone = followup::standalone(question, earlier);
        // A question near the length limit may pass it with the topic carried over: then it
        // is searched as asked.
        if standalone.chars().count() > MAX_QUERY_CHARS {
            standalone = question.trim().to_string();
        }
        if standalone == question.trim() {
            return Ok(Plan::as_asked(question));
        }
        // Equal say: weighting the standalone query 1.5–2× scored the same on the follow-up
        // sets, 3× and more lost follow-ups whose own words matter most.
        let queries = [question, &standalone].map(|text| Query {
            text: text.to_string(),
            weight: 1.0,
        });
        Ok(Plan {
            queries: queries.into(),
            standalone,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_question_alone_is_one_query_as_asked() {
        let plan = FollowUpRule
            .plan(" What is dpkg? ", &[], Mode::Hybrid)
            .unwrap();
        assert_eq!(plan.standalone, "What is dpkg?");
        assert_eq!(plan.queries.len(), 1);
        assert_eq!(plan.queries[0].text, " What is dpkg? ");
    }

    #[test]
    fn a_follow_up_is_searched_as_asked_and_rewritten() {
        let earlier = ["What is dpkg?".to_string()];
        let plan = FollowUpRule
            .plan("How do I install it?", &earlier, Mode::Hybrid)
            .unwrap();
        assert_eq!(plan.standalone, "How do I install it? dpkg");
        assert_eq!(
            plan.texts(),
            ["How do I install it?", "How do I install it? dpkg"]
        );
        assert!(plan.queries.iter().all(|q| q.weight == 1.0));
    }

    #[test]
    fn a_rewrite_past_the_length_limit_is_searched_as_asked() {
        let long = format!("{} it?", "x".repeat(MAX_QUERY_CHARS - 4));
        let plan = FollowUpRule
            .plan(&long, &["What is dpkg?".to_string()], Mode::Hybrid)
            .unwrap();
        assert_eq!(plan, Plan::as_asked(&long));
    }
}
