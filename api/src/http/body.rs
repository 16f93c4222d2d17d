//! Request bodies, read up to a limit: what a client may send is bounded before it is held.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use futures::StreamExt;
use renkei_core::RequestCode;

use super::{Answer, errors};

/// The request body, refused with 413 past `limit` bytes (before more is read).
pub(crate) async fn read_body(
    payload: &mut web::Payload,
    limit: usize,
    answer: Answer,
    rid: &str,
) -> Result<web::BytesMut, HttpResponse> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let Ok(chunk) = chunk else {
            return Err(errors(
                StatusCode::BAD_REQUEST,
                answer,
                rid,
                RequestCode::BadRequest,
                "could not read the request body",
            ));
        };
        if body.len() + chunk.len() > limit {
            return Err(errors(
                StatusCode::PAYLOAD_TOO_LARGE,
                answer,
                rid,
                RequestCode::PayloadTooLarge,
                &format!("request body larger than {limit} bytes"),
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
