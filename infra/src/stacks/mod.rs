//! inlet's stacks, and the deployments the pipeline makes of the app stack.

pub mod clean_test_files;
pub mod lambda;
pub mod pipeline;

use crate::stack::App;

/// One deployment of the app stack: its stack name doubles as the prefix of
/// its bucket and workgroup names.
pub struct Deployment {
    pub stage: &'static str,
    pub stack_name: &'static str,
    pub glue_database: &'static str,
}

pub const TEST: Deployment = Deployment { stage: "test", stack_name: "inlet-test", glue_database: "inlet_test" };
pub const PROD: Deployment = Deployment { stage: "prod", stack_name: "inlet-prod", glue_database: "inlet" };

impl Deployment {
    pub fn configuration_file(&self) -> String {
        format!("{}-lambda-stack-configuration", self.stage)
    }
}

/// Everything `infra synth` writes.
pub fn app() -> App {
    let mut app = App::new();
    app.add(lambda::stack());
    app.add(clean_test_files::stack());
    app.add(pipeline::stack());
    for deployment in [TEST, PROD] {
        app.configuration(
            &deployment.configuration_file(),
            &[("Stage", deployment.stage), ("NamePrefix", deployment.stack_name), ("GlueDatabaseName", deployment.glue_database)],
            &[("project", "inlet"), ("stage", deployment.stage)],
        );
    }
    app
}
