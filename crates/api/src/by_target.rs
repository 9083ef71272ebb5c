//! Answers by request target: a GET whose target (path and query) was
//! answered from an L1 entry that is still servable is answered again from
//! it before routing, so a repeated hit pays for no route matching, no
//! parameter parsing and no key building.
//!
//! Sound because the target decides the answer: a route marks its response
//! [`Reusable`] only when its key is a function of the path and query alone
//! (see `CacheType::chosen_by_clock` for the exceptions) and the data is
//! public, and the cache serves the remembered entry under the same checks
//! as any L1 hit (lease, flushes, invalidated scopes, expiry). It sits inside
//! the rate limiter and the observing middleware, so a request answered
//! here is limited, logged and counted under its route like any other.

use crate::http_metrics::RoutePattern;
use actix_web::body::{BoxBody, EitherBody, MessageBody};
use actix_web::dev::{forward_ready, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::Method;
use actix_web::Error;
use fkapi_cache::Cache;
use fkapi_web::{cached_response, Reusable, Visibility};
use futures::future::{ready, Either, LocalBoxFuture, Ready};
use std::rc::Rc;
use std::sync::Arc;

/// The middleware (`App::wrap(ByTarget::new(cache))`, innermost).
pub struct ByTarget {
    cache: Cache,
}

impl ByTarget {
    pub fn new(cache: Cache) -> ByTarget {
        ByTarget { cache }
    }
}

impl<S, B> Transform<S, ServiceRequest> for ByTarget
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B, BoxBody>>;
    type Error = Error;
    type Transform = ByTargetService<S>;
    type InitError = ();
    type Future = std::future::Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        std::future::ready(Ok(ByTargetService {
            service: Rc::new(service),
            cache: self.cache.clone(),
            on: self.cache.has_local_tier(),
        }))
    }
}

pub struct ByTargetService<S> {
    service: Rc<S>,
    cache: Cache,
    /// Whether this instance has an L1 at all (otherwise a pass-through).
    on: bool,
}

impl<S, B> Service<ServiceRequest> for ByTargetService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B, BoxBody>>;
    type Error = Error;
    /// An answer by target is ready at once: no boxed future for it.
    type Future = Either<
        Ready<Result<Self::Response, Self::Error>>,
        LocalBoxFuture<'static, Result<Self::Response, Self::Error>>,
    >;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let service = Rc::clone(&self.service);
        if !self.on || req.method() != Method::GET {
            return Either::Right(Box::pin(async move { Ok(service.call(req).await?.map_into_left_body()) }));
        }
        // The target as the client sent it.
        let target = req.uri().path_and_query().map_or("", |t| t.as_str());
        if let Some(hit) = self.cache.answer_for_target(target) {
            let mut response = cached_response(req.request(), &hit.cached, Visibility::Public);
            response.extensions_mut().insert(RoutePattern(hit.route));
            return Either::Left(ready(Ok(req.into_response(response).map_into_right_body())));
        }
        let target = req.uri().path_and_query().cloned();
        let cache = self.cache.clone();
        Either::Right(Box::pin(async move {
            let mut response = service.call(req).await?;
            let reusable = response.response_mut().extensions_mut().remove::<Reusable>();
            if let (Some(Reusable { answer, popular }), Some(target)) = (reusable, target) {
                if let Some(route) = response.request().match_pattern() {
                    cache.remember_target(target.as_str(), answer, Arc::from(route), popular);
                }
            }
            Ok(response.map_into_left_body())
        }))
    }
}
