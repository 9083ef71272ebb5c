//! What the shared extractors make every route able to answer, added to the
//! OpenAPI document in one place so no route's documentation can forget it:
//! a malformed or out-of-range path or query parameter, or an unreadable
//! body, is a 400; a body over the limit is a 413; a body of the wrong shape
//! is a 422 (see [`crate::extractor_configs`] and [`crate::JsonBody`]). A
//! route's own description of these statuses is kept when it has one.

use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, Response, ResponseBuilder};

fn error_response(description: &str) -> RefOr<Response> {
    let content = ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build();
    RefOr::T(ResponseBuilder::new().description(description).content("application/json", content).build())
}

/// Adds the 400, 413 and 422 answers of the extractors to every operation
/// that has parameters or a body and does not document them yet.
pub fn document_extractor_errors(doc: &mut OpenApi) {
    for item in doc.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
            &mut item.head,
            &mut item.options,
            &mut item.trace,
        ];
        for operation in operations.into_iter().flatten() {
            let has_params = operation.parameters.as_ref().is_some_and(|p| !p.is_empty());
            let has_body = operation.request_body.is_some();
            let responses = &mut operation.responses.responses;
            if has_params || has_body {
                responses.entry("400".into()).or_insert_with(|| {
                    error_response("A parameter is malformed or out of range, or the body is not JSON (or not sent as application/json)")
                });
            }
            if has_body {
                responses.entry("413".into()).or_insert_with(|| error_response("Body larger than 64 KiB"));
                responses.entry("422".into()).or_insert_with(|| {
                    error_response("The body has a wrong type, an unknown field or a value out of range")
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::document_extractor_errors;
    use utoipa::openapi::path::{OperationBuilder, ParameterBuilder, ParameterIn, PathItemBuilder};
    use utoipa::openapi::request_body::RequestBodyBuilder;
    use utoipa::openapi::{HttpMethod, OpenApiBuilder, PathsBuilder, ResponseBuilder};

    #[test]
    fn adds_what_is_missing_and_keeps_what_is_documented() {
        let with_param = OperationBuilder::new()
            .parameter(ParameterBuilder::new().name("id").parameter_in(ParameterIn::Path))
            .response("400", ResponseBuilder::new().description("own words"));
        let with_body = OperationBuilder::new().request_body(Some(RequestBodyBuilder::new().build()));
        let bare = OperationBuilder::new().response("200", ResponseBuilder::new().description("ok"));
        let paths = PathsBuilder::new()
            .path("/a/{id}", PathItemBuilder::new().operation(HttpMethod::Get, with_param).build())
            .path("/b", PathItemBuilder::new().operation(HttpMethod::Post, with_body).build())
            .path("/c", PathItemBuilder::new().operation(HttpMethod::Get, bare).build());
        let mut doc = OpenApiBuilder::new().paths(paths).build();
        document_extractor_errors(&mut doc);
        let json = serde_json::to_value(&doc).unwrap_or_default();
        let codes = |path: &str, method: &str| -> Vec<String> {
            json["paths"][path][method]["responses"]
                .as_object()
                .map(|r| r.keys().cloned().collect())
                .unwrap_or_default()
        };
        assert_eq!(codes("/a/{id}", "get"), ["400"]);
        assert_eq!(json["paths"]["/a/{id}"]["get"]["responses"]["400"]["description"], "own words");
        assert_eq!(codes("/b", "post"), ["400", "413", "422"]);
        assert_eq!(codes("/c", "get"), ["200"]);
    }
}
