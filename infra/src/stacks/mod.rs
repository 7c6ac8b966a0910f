//! inlet's stacks, and the deployments the pipeline makes of the app stack.

pub mod clean_test_files;
pub mod lambda;
pub mod pipeline;

use crate::stack::App;

/// The pipeline stack's parameter every name it makes starts with, so that
/// several inlets can live in one account and region.
pub const NAME_PREFIX: &str = "NamePrefix";
/// The prefix when none is given: stacks `inlet-test` and `inlet-prod`.
pub const DEFAULT_NAME_PREFIX: &str = "inlet";

/// One deployment of the app stack the pipeline makes. Its names are
/// `Fn::Sub` templates over the pipeline's `NamePrefix`: with `inlet`, the
/// stack `inlet-test` (which also prefixes its buckets and workgroup) and the
/// database `inlet_test`.
pub struct Deployment {
    pub stage: &'static str,
    /// Appended to the prefix for the Glue database, whose name takes no hyphen.
    database_suffix: &'static str,
}

pub const TEST: Deployment = Deployment { stage: "test", database_suffix: "_test" };
pub const PROD: Deployment = Deployment { stage: "prod", database_suffix: "" };

impl Deployment {
    pub fn configuration_file(&self) -> String {
        format!("{}-lambda-stack-configuration", self.stage)
    }

    /// `${NamePrefix}-test`.
    pub fn stack_name(&self) -> String {
        format!("${{{NAME_PREFIX}}}-{}", self.stage)
    }

    /// `${NamePrefix}_test`, or `${NamePrefix}` for production.
    pub fn glue_database(&self) -> String {
        format!("${{{NAME_PREFIX}}}{}", self.database_suffix)
    }
}

/// Everything `infra synth` writes. A deployment's configuration file holds
/// what does not depend on the prefix; the pipeline adds the names.
pub fn app() -> App {
    let mut app = App::new();
    app.add(lambda::stack());
    app.add(clean_test_files::stack());
    app.add(pipeline::stack());
    for deployment in [TEST, PROD] {
        app.configuration(
            &deployment.configuration_file(),
            &[("Stage", deployment.stage)],
            &[("project", "inlet"), ("stage", deployment.stage)],
        );
    }
    app
}
