//! STS: who are we.

use super::{Aws, AwsError, ErrorKind};

pub(super) async fn caller_account(aws: &Aws, client: &aws_sdk_sts::Client) -> Result<String, AwsError> {
    let out = aws
        .call("sts", "GetCallerIdentity", client.get_caller_identity().send())
        .await?;
    out.account().map(String::from).ok_or_else(|| {
        AwsError::new(
            "sts",
            "GetCallerIdentity",
            ErrorKind::Other,
            "MissingAccount",
            "GetCallerIdentity returned no account",
        )
    })
}
