--
-- PostgreSQL database dump
--

\restrict abc
-- Dumped from database version 15.18
-- Dumped by pg_dump version 15.18

SET statement_timeout = 0;
